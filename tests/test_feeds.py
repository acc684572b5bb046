"""Table feeds through ``recipe-runner run --burst`` on the emulator: recipes watching one
table share one query of it, and each still gets exactly the records its own poll would have
given — its filter, its columns, its ``since`` — across disable/enable, removal and return."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator import RunningEmulator
from runner import cli_recipes
from runner.cli import build_parser
from runner.store import Store
from tests.d365_support import d365_client, insert_rows, iso, request_log
from tests.daemon_support import prepare, run_daemon
from tests.tokens_support import state_url

CONTACTS = "/api/data/v9.2/contacts"


def watcher(name: str, **trigger: Any) -> dict[str, Any]:
    """A recipe that logs every contact it is given, with the columns it was given."""
    return {"name": name,
            "trigger": {"type": "dynamics365.new_or_updated_record", "connection": "crm",
                        "table": "contacts", "since": "beginning", "page_size": 50,
                        **trigger},
            "actions": [{"type": "log", "message": "{{ trigger.record | dictsort | "
                                                   "map('first') | join(',') }}"}]}


RECIPES = {
    "all": watcher("all"),
    "smiths": watcher("smiths", filter="lastname eq 'smith'", select=["fullname"]),
    "not-smiths": watcher("not-smiths", filter="not (lastname eq 'Smith')",
                          select=["lastname", "emailaddress1"]),
    "mail": watcher("mail", filter="contains(emailaddress1,'@contoso')",
                    select=["emailaddress1"]),
}


async def contacts(emulator: RunningEmulator, rows: list[dict[str, Any]]) -> dict[str, str]:
    async with emulator.client_session() as http:
        ids = await insert_rows(http, emulator, "contact", rows)
    return {row["firstname"]: record_id for row, record_id in zip(rows, ids, strict=True)}


async def jobs_by_recipe(folder: Path) -> dict[str, list[str]]:
    """Each recipe's jobs, as the record ids they carry, in the order they were made."""
    async with await Store.open(state_url(folder)) as store:
        jobs = await store.list_jobs(limit=10_000)
    found: dict[str, list[str]] = {}
    for job in sorted(jobs, key=lambda job: job.seq):
        found.setdefault(job.recipe, []).append(job.event_key.split(":")[0])
    return found


async def contact_queries(emulator: RunningEmulator) -> int:
    return sum(1 for e in await request_log(emulator, f"{CONTACTS}*") if e["method"] == "GET")


def expected(ids: dict[str, str], names: dict[str, list[str]]) -> dict[str, list[str]]:
    return {recipe: sorted(ids[n] for n in people) for recipe, people in names.items()}


PEOPLE = [
    {"firstname": "Ann", "lastname": "Smith", "emailaddress1": "ann@contoso.com"},
    {"firstname": "Bob", "lastname": "SMITH", "emailaddress1": "bob@fabrikam.com"},
    {"firstname": "Cy", "lastname": "Jones", "emailaddress1": "cy@contoso.com"},
    {"firstname": "Di", "lastname": "Lee"},
]
WHO_GETS = {"all": ["Ann", "Bob", "Cy", "Di"], "smiths": ["Ann", "Bob"],
            "not-smiths": ["Cy", "Di"], "mail": ["Ann", "Cy"]}


async def test_recipes_on_one_table_share_one_query_and_each_gets_its_own_records(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    options = await prepare(emulator, tmp_path, RECIPES)
    first = await contacts(emulator, PEOPLE)
    catch_up = await run_daemon(*options, "--burst")  # each reads from its since, then joins
    assert catch_up.returncode == 0, catch_up.stderr
    before = await contact_queries(emulator)
    later = await contacts(emulator, [
        {**p, "firstname": p["firstname"] + "2",
         **({"emailaddress1": "2" + p["emailaddress1"]} if "emailaddress1" in p else {})}
        for p in PEOPLE])
    shared = await run_daemon(*options, "--burst")
    assert shared.returncode == 0, shared.stderr

    assert await contact_queries(emulator) - before == 1  # four recipes, one query
    joined = [r for e in catch_up.events() if e["event"] == "feed.joined" for r in e["recipes"]]
    assert sorted(joined) == sorted(RECIPES)
    got = {recipe: sorted(ids) for recipe, ids in (await jobs_by_recipe(tmp_path)).items()}
    both = {**first, **later}
    assert got == expected(both, {r: [*p, *(n + "2" for n in p)] for r, p in WHO_GETS.items()})
    columns = {e["recipe"]: e["message"] for e in shared.events() if e["event"] == "recipe.log"}
    assert columns["smiths"] == "@odata.etag,contactid,createdon,fullname,modifiedon"
    assert columns["mail"] == "@odata.etag,contactid,createdon,emailaddress1,modifiedon"


async def test_a_filter_only_dataverse_evaluates_keeps_its_recipe_polling_alone(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    recipes = {**RECIPES, "contoso": watcher(
        "contoso", filter="parentcustomerid_account/name eq 'Contoso'"),
        "apart": watcher("apart", shared=False)}
    options = await prepare(emulator, tmp_path, recipes)
    async with emulator.client_session() as http:
        (account,) = await insert_rows(http, emulator, "account", [{"name": "Contoso"}])
    bound = {"parentcustomerid_account@odata.bind": f"/accounts({account})"}
    ids = await contacts(emulator, [{**PEOPLE[0], **bound}, *PEOPLE[1:3], {**PEOPLE[3], **bound}])
    assert (await run_daemon(*options, "--burst")).returncode == 0
    before = await contact_queries(emulator)
    run = await run_daemon(*options, "--burst")
    assert await contact_queries(emulator) - before == 3  # the feed, "contoso", "apart"
    (alone,) = [e for e in run.events() if e["event"] == "recipe.polls_alone"]
    assert alone["recipe"] == "contoso"
    assert alone["reason"] == ("its filter is evaluated by Dataverse only: a related column "
                               "(x/y) is evaluated by the service only")
    jobs = await jobs_by_recipe(tmp_path)
    assert sorted(jobs["contoso"]) == sorted([ids["Ann"], ids["Di"]])
    assert sorted(jobs["apart"]) == sorted(ids.values())


async def recipes_cli(*argv: str) -> int:
    args = build_parser().parse_args(["recipes", *argv])
    return await asyncio.to_thread(cli_recipes.main, args)


async def test_a_member_disabled_or_removed_misses_nothing_when_it_returns(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    options = await prepare(emulator, tmp_path, RECIPES)
    ids = await contacts(emulator, PEOPLE)
    assert (await run_daemon(*options, "--burst")).returncode == 0
    assert await recipes_cli("disable", "smiths", *options) == 0
    (tmp_path / "recipes" / "mail.yaml").unlink()  # removed while the daemon is down
    while_away = await contacts(emulator, [
        {"firstname": "Ed", "lastname": "smith", "emailaddress1": "ed@contoso.com"}])
    away = await run_daemon(*options, "--burst")
    assert away.returncode == 0, away.stderr
    jobs = await jobs_by_recipe(tmp_path)
    assert while_away["Ed"] in jobs["all"]
    assert while_away["Ed"] not in jobs["smiths"] + jobs["mail"]

    assert await recipes_cli("enable", "smiths", *options) == 0
    (tmp_path / "recipes" / "mail.yaml").write_text(yaml.safe_dump(RECIPES["mail"]))
    back = await run_daemon(*options, "--burst")
    assert back.returncode == 0, back.stderr
    jobs = await jobs_by_recipe(tmp_path)
    assert sorted(jobs["smiths"]) == sorted([ids["Ann"], ids["Bob"], while_away["Ed"]])
    assert sorted(jobs["mail"]) == sorted([ids["Ann"], ids["Cy"], while_away["Ed"]])
    assert sorted(r for e in back.events() if e["event"] == "feed.joined"
                  for r in e["recipes"]) == ["mail", "smiths"]


async def test_a_new_member_with_since_now_gets_only_what_changes_after_it_started(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    options = await prepare(emulator, tmp_path, {"all": RECIPES["all"]})
    await contacts(emulator, PEOPLE)
    assert (await run_daemon(*options, "--burst")).returncode == 0
    late = watcher("late", since="now", lookback="1s", safety_lag="0s")
    (tmp_path / "recipes" / "late.yaml").write_text(yaml.safe_dump(late))
    before = await contact_queries(emulator)
    assert (await run_daemon(*options, "--burst")).returncode == 0  # starts now, joins
    assert await contact_queries(emulator) - before == 1  # the feed's: none of its own
    await asyncio.sleep(1.1)  # the emulator stamps whole seconds
    after = await contacts(emulator, [{"firstname": "Flo", "lastname": "Ng",
                                       "modifiedon": iso(time.time())}])
    assert (await run_daemon(*options, "--burst")).returncode == 0
    jobs = await jobs_by_recipe(tmp_path)
    assert jobs["late"] == [after["Flo"]] and len(jobs["all"]) == 5


@pytest.mark.parametrize("kind", ["dynamics365.new_record"])
async def test_new_record_recipes_share_a_feed_of_their_own(
        emulator: RunningEmulator, tmp_path: Path, kind: str) -> None:
    recipes = {name: {**recipe, "trigger": {**recipe["trigger"], "type": kind}}
               for name, recipe in RECIPES.items()}
    options = await prepare(emulator, tmp_path, {**RECIPES, **{
        f"new-{name}": {**recipe, "name": f"new-{name}"} for name, recipe in recipes.items()}})
    ids = await contacts(emulator, PEOPLE)
    assert (await run_daemon(*options, "--burst")).returncode == 0
    before = await contact_queries(emulator)
    assert (await run_daemon(*options, "--burst")).returncode == 0
    assert await contact_queries(emulator) - before == 2  # a feed per trigger
    jobs = await jobs_by_recipe(tmp_path)
    assert sorted(jobs["new-smiths"]) == sorted([ids["Ann"], ids["Bob"]])


async def test_include_labels_puts_each_label_beside_its_value(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    labelled = {"name": "labelled", "trigger": {
        "type": "dynamics365.new_or_updated_record", "connection": "crm", "table": "contacts",
        "select": ["fullname", "gendercode", "statuscode"], "since": "beginning",
        "include_labels": True},
        "actions": [{"type": "log", "message": "{{ trigger.record['gendercode@label'] }} / "
                                               "{{ trigger.record['statuscode@label'] }}"}]}
    options = await prepare(emulator, tmp_path, {"labelled": labelled, "all": RECIPES["all"]})
    await contacts(emulator, [{"firstname": "Gia", "lastname": "Ro", "gendercode": 2}])
    run = await run_daemon(*options, "--burst")
    assert run.returncode == 0, run.stderr
    (line,) = [e for e in run.events() if e["event"] == "recipe.log"
               and e["recipe"] == "labelled"]
    assert line["message"] == "Female / Active"


async def test_changed_columns_fires_only_when_a_watched_column_changed(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    options = await prepare(emulator, tmp_path, {
        "all": RECIPES["all"],
        "names": watcher("names", changed_columns=["lastname"], select=["fullname"])})
    (made,) = (await contacts(emulator, [{"firstname": "Kim", "lastname": "Old"}])).values()
    counts = []
    for change in (None, {"emailaddress1": "kim@x.test"}, {"lastname": "New"}):
        if change is not None:
            async with d365_client(emulator) as client:
                await client.request("PATCH", f"contacts({made})", json_body=change,
                                     headers={"If-Match": "*"})
            await asyncio.sleep(1.1)  # a new second: the poll reads the new version
        assert (await run_daemon(*options, "--burst")).returncode == 0
        jobs = await jobs_by_recipe(tmp_path)
        counts.append((len(jobs["all"]), len(jobs.get("names", []))))
    assert counts == [(1, 1), (2, 1), (3, 2)]
