"""``recipe-runner recipes backfill`` against the emulator: a past range becomes jobs once,
again only duplicates, with ``--force`` new jobs; the live cursor never moves. And the lag
column of ``recipes list``."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from connectors.catalog import default_registry
from emulator import RunningEmulator
from runner import cli_recipes
from runner.cli import build_parser
from runner.config import parse_yaml
from runner.engine.backfill import backfill
from runner.recipes.validate import RecipeBuilder
from runner.store import JobStatus, NewEvent, Store
from tests.d365_support import insert_rows, iso
from tests.daemon_support import prepare, run_daemon
from tests.fo_connector_support import fo_client
from tests.fo_support import customer, fo_api
from tests.tokens_support import CLIENT_SECRET, state_url

DAY_S = 86_400
LIVE_CURSOR = {"v": 1, "since": "now", "floor": "2026-01-01T00:00:00",
               "watermark": "2026-01-01T00:00:00", "seen": {}}


def contact_recipe() -> dict[str, Any]:
    return {"name": "contact-sync",
            "trigger": {"type": "dynamics365.new_or_updated_record", "connection": "crm",
                        "table": "contacts", "select": ["contactid", "fullname"],
                        "page_size": 3},
            "actions": [{"type": "log", "message": "{{ trigger.record.fullname }}"}]}


def report_recipe() -> dict[str, Any]:
    return {"name": "report", "trigger": {"type": "schedule", "every": "1h"},
            "actions": [{"type": "log", "message": "tick"}]}


async def recipes_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``recipe-runner recipes …`` in a thread (it runs its own loop): code, stdout, stderr."""
    args = build_parser().parse_args(["recipes", *argv])
    with capture_logs():
        code = await asyncio.to_thread(cli_recipes.main, args)
    out, err = capsys.readouterr()
    return code, out, err


async def past_contacts(emulator: RunningEmulator) -> tuple[list[str], float]:
    """Seven contacts four to two days ago (the range), two older, two recent; the ids in
    the range and the range's start."""
    start_s = time.time() - 4 * DAY_S
    rows = [{"firstname": f"In{i}", "lastname": "Range", "modifiedon": iso(start_s + i * 3600)}
            for i in range(7)]
    rows += [{"firstname": f"Old{i}", "lastname": "X", "modifiedon": iso(start_s - DAY_S)}
             for i in range(2)]
    rows += [{"firstname": f"New{i}", "lastname": "X", "modifiedon": iso(time.time() - 60)}
             for i in range(2)]
    async with emulator.client_session() as http:
        ids = await insert_rows(http, emulator, "contact", rows)
    return ids[:7], start_s


async def jobs_and_cursor(folder: Path) -> tuple[list[Any], Any]:
    async with await Store.open(state_url(folder)) as store:
        return await store.list_jobs("contact-sync"), await store.load_cursor("contact-sync")


async def test_backfill_stores_a_past_range_once_and_leaves_the_live_cursor(
    emulator: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = await prepare(emulator, tmp_path, {"contact-sync": contact_recipe()})
    in_range, start_s = await past_contacts(emulator)
    async with await Store.open(state_url(tmp_path)) as store:  # as the live poller left it
        await store.commit_poll("contact-sync", [], LIVE_CURSOR, 0)
    since, until = iso(start_s - 60), iso(start_s + 2 * DAY_S)
    command = ["backfill", "contact-sync", "--since", since, "--until", until, *options]

    code, out, err = await recipes_cli(capsys, *command, "--json")
    assert code == 0, err
    assert json.loads(out) | {"since": None, "until": None} == {
        "name": "contact-sync", "since": None, "until": None, "force": False, "pages": 3,
        "events": 7, "new_jobs": 7, "duplicates": 0}
    jobs, cursor = await jobs_and_cursor(tmp_path)
    assert sorted(job.event_key.split(":")[0] for job in jobs) == sorted(in_range)
    assert {job.status for job in jobs} == {JobStatus.PENDING}
    assert {job.payload["record"]["fullname"] for job in jobs} == {
        f"In{i} Range" for i in range(7)}
    assert cursor == (LIVE_CURSOR, 0)

    code, out, _ = await recipes_cli(capsys, *command)
    assert code == 0
    assert out.strip() == (f"backfill contact-sync [{since}, {until}): 7 events, 0 new jobs, "
                           "7 duplicates")

    code, out, _ = await recipes_cli(capsys, *command, "--force", "--json")
    assert code == 0 and json.loads(out)["new_jobs"] == 7
    jobs, cursor = await jobs_and_cursor(tmp_path)
    assert sorted(job.replay for job in jobs) == [0] * 7 + [1] * 7
    assert cursor == (LIVE_CURSOR, 0)
    assert CLIENT_SECRET not in out


async def test_a_trigger_without_backfill_is_a_one_line_error(
    emulator: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = await prepare(emulator, tmp_path, {"report": report_recipe()})

    code, out, err = await recipes_cli(capsys, "backfill", "report", "--since", "2026-01-01",
                                       *options)

    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "trigger schedule cannot re-read a past range" in err
    assert "dynamics365.new_or_updated_record" in err


async def test_backfill_of_an_unknown_recipe_suggests_the_name(
    emulator: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = await prepare(emulator, tmp_path, {"contact-sync": contact_recipe()})
    code, _, err = await recipes_cli(capsys, "backfill", "contact-synk", "--since",
                                     "2026-01-01", *options)
    assert code == 1 and "did you mean 'contact-sync'" in err


async def test_fo_backfill_reads_only_the_range_and_dedupes(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    now_s = time.time()
    async with fo_api(emulator) as api:
        await api.insert("CustomersV3", [
            customer("OLD", ModifiedDateTime=iso(now_s - 9 * DAY_S)),
            customer("IN1", ModifiedDateTime=iso(now_s - 5 * DAY_S)),
            customer("IN2", ModifiedDateTime=iso(now_s - 4 * DAY_S)),
            customer("NEW", ModifiedDateTime=iso(now_s - 60))])
    registry = default_registry()
    text = ("name: customers\ntrigger: {type: dynamics_fo.new_or_updated_record, "
            "connection: fo, entity: CustomersV3, page_size: 1}\n"
            "actions: [{type: log, message: hi}]\n")
    recipe = RecipeBuilder(parse_yaml(text, "c.yaml"), registry, {"fo": "dynamics_fo"}).build()
    assert recipe is not None
    spec = registry.triggers[recipe.trigger.type]
    since = _moment(now_s - 6 * DAY_S)
    async with await Store.open(f"sqlite:///{tmp_path / 's.db'}") as store, \
            fo_client(emulator, data_area="usmf") as client:
        first = await backfill(recipe, spec, store, client, since, _moment(now_s - DAY_S))
        again = await backfill(recipe, spec, store, client, since, None)
        jobs = await store.list_jobs("customers")
        cursor = await store.load_cursor("customers")
    assert (first.events, first.new_jobs, first.duplicates) == (2, 2, 0)
    assert (again.events, again.new_jobs, again.duplicates) == (3, 1, 2)
    assert sorted(job.payload["record"]["CustomerAccount"] for job in jobs) == [
        "IN1", "IN2", "NEW"]
    assert cursor == (None, 0)


async def test_recipes_list_shows_the_age_of_the_oldest_pending_job_as_lag(
    emulator: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = await prepare(emulator, tmp_path, {"contact-sync": contact_recipe(),
                                                 "report": report_recipe()})
    created_s = time.time() - 125
    async with await Store.open(state_url(tmp_path), clock=lambda: created_s) as store:
        await store.commit_poll("contact-sync", [NewEvent("a:1", {}), NewEvent("b:1", {})],
                                {}, 0)

    code, out, _ = await recipes_cli(capsys, "list", "--json", *options)
    assert code == 0
    lags = {row["name"]: row["lag_s"] for row in json.loads(out)}
    assert lags["report"] is None
    assert 125 <= lags["contact-sync"] < 135

    code, out, _ = await recipes_cli(capsys, "list", *options)
    header, sync_line, report_line = out.splitlines()
    assert header.split()[-2:] == ["LAG", "FILE"]
    assert sync_line.split()[-2] in ("2m05s", "2m06s", "2m07s")
    assert report_line.split()[-2] == "-"


def _moment(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(int(epoch_s), UTC)


async def test_backfill_of_a_batch_recipe_skips_records_already_in_a_batch(
    emulator: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = {"name": "deals", "concurrency": 2,
              "trigger": {"type": "dynamics365.new_record", "connection": "crm",
                          "table": "opportunities", "select": ["name"], "since": "beginning",
                          "page_size": 2, "batch_size": 3},
              "actions": [{"type": "log", "message": "{{ trigger.record.keys | length }}"}]}
    options = await prepare(emulator, tmp_path, {"deals": recipe})
    async with emulator.client_session() as http:
        await insert_rows(http, emulator, "opportunity", [
            {"name": f"O{i}", "createdon": iso(time.time() - 600 + i)} for i in range(7)])
    first = await run_daemon(*options, "--burst")
    assert first.returncode == 0, first.stderr
    async with emulator.client_session() as http:
        await insert_rows(http, emulator, "opportunity", [{"name": "Deal X"}])
    second = await run_daemon(*options, "--burst")
    assert second.returncode == 0, second.stderr
    async with await Store.open(state_url(tmp_path)) as store:
        before = await store.list_jobs("deals")

    code, out, err = await recipes_cli(capsys, "backfill", "deals", "--since",
                                       iso(time.time() - 3600), *options, "--json")
    assert code == 0, err
    summary = json.loads(out)
    async with await Store.open(state_url(tmp_path)) as store:
        after = await store.list_jobs("deals")
    members = sorted(key for job in before for key in job.payload["record"]["keys"])
    assert [len(job.payload["record"]["keys"]) for job in
            sorted(before, key=lambda job: job.seq)] == [3, 3, 1, 1]
    assert len(members) == len(set(members)) == 8
    assert summary["events"] == 8 and summary["new_jobs"] == 0 and summary["duplicates"] == 8
    assert len(after) == len(before)
