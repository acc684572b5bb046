"""``recipe-runner recipes list|enable|disable`` against a store filled by the real engine:
every recipe with its switch, last poll and job counts, broken files with their first
problem, and an operator's disable honoured by the engine's next poll."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from runner import cli_recipes
from runner.cli import build_parser, main
from runner.engine.engine import Engine
from runner.store import Store
from tests.engine_support import Endpoint, build_engine, make_registry


@pytest.fixture(autouse=True)
def quiet_engine() -> Iterator[None]:
    with capture_logs():
        yield


def relay_text(endpoint: Endpoint, ids: list[str]) -> str:
    return f"""
name: relay
trigger:
  type: test.list
  records: {json.dumps([{"id": i} for i in ids])}
actions:
  - type: http.request
    method: POST
    url: {endpoint.url}
    json: {{id: "{{{{ trigger.record.id }}}}"}}
"""


BROKEN = "name: broken\ntrigger: {type: test.lsit}\nactions: [{type: log, message: hi}]\n"


async def engine_in(tmp_path: Path, text: str) -> Engine:
    """An engine running the recipe file ``recipes/relay.yaml``, state in ``state.db``."""
    store = await Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    (tmp_path / "recipes").mkdir(exist_ok=True)
    return await build_engine(tmp_path / "recipes", text, "relay.yaml", store=store)


def options(tmp_path: Path) -> list[str]:
    return ["--recipes", str(tmp_path / "recipes"), "--state",
            f"sqlite:///{tmp_path / 'state.db'}"]


async def recipes_cli(*argv: str) -> int:
    """``recipe-runner recipes …`` with the test connectors (list trigger) registered; in a
    thread, as the command runs its own event loop."""
    args = build_parser().parse_args(["recipes", *argv])
    return await asyncio.to_thread(cli_recipes.main, args, make_registry())


async def listed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> list[dict[str, Any]]:
    assert await recipes_cli("list", "--json", *options(tmp_path)) == 0
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return rows


async def test_recipes_list_shows_switch_last_poll_job_counts_and_broken_files(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.statuses = [400]  # the first job fails
    engine = await engine_in(tmp_path, relay_text(endpoint, ["a", "b", "c"]))
    (tmp_path / "recipes" / "broken.yaml").write_text(BROKEN)
    await engine.burst()
    await engine.stop(5)
    await engine.store.close()

    relay, broken = await listed(capsys, tmp_path)
    assert relay["name"] == "relay" and relay["enabled"] is True
    assert relay["operator_override"] is None and relay["trigger"] == "test.list"
    assert relay["last_poll_at"].endswith("Z") and relay["last_poll_error"] is None
    assert relay["jobs"] == {"pending": 0, "running": 0, "succeeded": 2, "failed": 1,
                             "cancelled": 0}
    assert relay["file"].endswith("relay.yaml") and relay["state"] == "ok"
    assert broken["name"] == "broken" and broken["file"].endswith("broken.yaml")
    assert "unknown trigger type 'test.lsit' (did you mean 'test.list'?)" in broken["problem"]
    assert broken["state"].startswith("broken: ") and broken["enabled"] is False

    assert await recipes_cli("list", *options(tmp_path)) == 0
    header, relay_line, broken_line = capsys.readouterr().out.splitlines()
    assert header.split() == ["NAME", "ENABLED", "TRIGGER", "LAST", "POLL", "STATE",
                              "PENDING", "RUNNING", "FAILED", "POLL", "LAG", "JOB", "LAG",
                              "FILE"]
    cells = relay_line.split()
    assert cells[:3] == ["relay", "yes", "test.list"]
    assert cells[-6:-1] == ["0", "0", "1", "0s", "-"]
    assert cells[5] == "ok"
    assert broken_line.startswith("broken ") and "broken: 2:17: trigger.type: unknown" in (
        broken_line)


async def test_counts_follow_a_retry_and_poll_errors_are_shown(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.statuses = [400]
    engine = await engine_in(tmp_path, relay_text(endpoint, ["a"]))
    await engine.burst()
    await engine.stop(5)
    await engine.store.record_poll_outcome("relay", "connection needs attention: AADSTS700082")
    await engine.store.close()

    state = ["--state", f"sqlite:///{tmp_path / 'state.db'}"]
    assert await asyncio.to_thread(main, ["jobs", "retry", "--failed", *state]) == 0
    capsys.readouterr()
    (relay,) = await listed(capsys, tmp_path)
    assert relay["jobs"]["pending"] == 1 and relay["jobs"]["failed"] == 0
    assert relay["last_poll_error"] == "connection needs attention: AADSTS700082"


async def test_disable_makes_the_engine_skip_polls_until_enabled_again(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = await engine_in(tmp_path, relay_text(endpoint, ["a", "b"]))
    poller = engine.recipes["relay"].poller

    assert await recipes_cli("disable", "relay", *options(tmp_path)) == 0
    assert capsys.readouterr().out.strip() == (
        "recipe relay disabled (a running daemon stops polling it at its next poll)")
    skipped = await poller.poll_once()
    assert skipped.skipped == "disabled by operator" and skipped.new_jobs == 0
    (relay,) = await listed(capsys, tmp_path)
    assert relay["enabled"] is False and relay["operator_override"] is False
    assert relay["jobs"]["pending"] == 0

    assert await recipes_cli("enable", "relay", *options(tmp_path)) == 0
    assert capsys.readouterr().out.strip() == "recipe relay enabled"
    polled = await poller.poll_once()
    assert polled.skipped is None and polled.new_jobs == 2
    await engine.stop(5)
    await engine.store.close()


async def test_switching_an_unknown_recipe_is_an_error_with_a_suggestion(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "relay.yaml").write_text(relay_text(endpoint, ["a"]))
    assert await recipes_cli("disable", "rely", *options(tmp_path)) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["error: no recipe named 'rely' (did you mean 'relay'?)"]
    assert not (tmp_path / "state.db").exists()


async def test_several_recipes_switch_at_once_and_none_if_one_name_is_wrong(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "recipes").mkdir()
    for name in ("relay", "relay2"):
        (tmp_path / "recipes" / f"{name}.yaml").write_text(
            relay_text(endpoint, ["a"]).replace("name: relay", f"name: {name}"))
    await (await Store.open(f"sqlite:///{tmp_path / 'state.db'}")).close()  # a daemon ran
    assert await recipes_cli("disable", "relay", "relay3", *options(tmp_path)) == 1
    assert "no recipe named 'relay3'" in capsys.readouterr().err
    assert [r["enabled"] for r in await listed(capsys, tmp_path)] == [True, True]
    assert await recipes_cli("disable", "--json", "relay", "relay2", *options(tmp_path)) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"name": "relay", "operator_override": False},
        {"name": "relay2", "operator_override": False}]
    assert [r["enabled"] for r in await listed(capsys, tmp_path)] == [False, False]


async def test_enabling_a_recipe_disabled_in_its_file_warns(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "recipes").mkdir()
    text = relay_text(endpoint, ["a"]).replace("name: relay", "name: relay\nenabled: false")
    (tmp_path / "recipes" / "relay.yaml").write_text(text)
    await (await Store.open(f"sqlite:///{tmp_path / 'state.db'}")).close()  # a daemon ran
    assert await recipes_cli("enable", "relay", *options(tmp_path)) == 0
    err = capsys.readouterr().err
    assert "relay.yaml says enabled: false; the daemon runs relay only once the file says" in err
    (relay,) = await listed(capsys, tmp_path)
    assert relay["enabled"] is False and relay["operator_override"] is True


def test_listing_or_switching_without_the_daemons_store_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "nightly.yaml").write_text(
        "name: nightly\ntrigger: {type: schedule, cron: '0 2 * * *'}\n"
        "actions: [{type: log, message: hi}]\n")
    for command in (["list"], ["disable", "nightly"]):
        assert main(["recipes", *command, *options(tmp_path)]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith(f"error: no state store at {tmp_path / 'state.db'}")
    assert main(["recipes", "list", "--recipes", str(tmp_path / "recipe"),
                 "--state", options(tmp_path)[-1]]) == 1
    assert capsys.readouterr().err == (
        f"error: no recipes at {tmp_path / 'recipe'}; point at the daemon's recipes with "
        "--recipes or RECIPE_RUNNER_RECIPES\n")
    assert not (tmp_path / "state.db").exists()


async def test_poll_lag_grows_from_the_last_good_poll_while_polls_fail(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = await engine_in(tmp_path, relay_text(endpoint, []))
    await engine.stop(5)
    await engine.store.close()
    now_s = time.time()
    url = f"sqlite:///{tmp_path / 'state.db'}"
    for at_s, error in [(now_s - 200, None), (now_s - 20, "503"), (now_s - 10, "503"),
                        (now_s - 5, "503")]:
        async with await Store.open(url, clock=lambda at_s=at_s: at_s) as store:
            await store.record_poll_outcomes(["relay"], error)

    (relay,) = await listed(capsys, tmp_path)
    assert relay["state"] == "failing (3 polls in a row): 503" and relay["lag_s"] is None
    assert 165 <= relay["poll_lag_s"] < 175  # 200 s since the good poll - the 30 s interval
    async with await Store.open(url, clock=lambda: now_s) as store:  # a good poll: on time
        await store.record_poll_outcome("relay")
    (relay,) = await listed(capsys, tmp_path)
    assert relay["poll_lag_s"] == 0 and relay["state"] == "ok"
