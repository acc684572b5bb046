"""One story about a recipe, told the same way by the daemon's log, ``/readyz``, the status
page and ``recipes list``: a recipe whose polls keep failing (a wrong table) is ``failing``
and escalates to one error line; a broken edit is "running last good version; file has
problems: …" until the file is fixed; every ``recipe.problem`` line names its recipe."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from emulator import RunningEmulator
from runner.store import Store
from runner.store.records import FAILING_AFTER_POLLS
from tests.daemon_support import wait_for
from tests.ops_support import (
    OpsDaemon,
    contacts_recipe,
    running_daemon,
    seeded_files,
    visible_text,
    write_files,
)
from tests.tokens_support import connection, seed_tenant, state_url


async def recipes_list(folder: Path) -> dict[str, Any]:
    """``recipe-runner recipes list --json`` in another process, rows by name."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runner.cli", "recipes", "list", "--json",
        "--recipes", str(folder / "recipes"), "--connections", str(folder / "connections.yaml"),
        "--state", state_url(folder), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    return {row["name"]: row for row in json.loads(stdout)}


async def page_state(ops: OpsDaemon, recipe: str) -> str:
    _, html, _ = await ops.get("/")
    row = html.split(f'id="recipe-{recipe}"', 1)[1].split("</tr>", 1)[0]
    cell = row.split('data-label="State"', 1)[1].split(">", 1)[1].split("</td>", 1)[0]
    return visible_text(cell)


async def test_a_recipe_whose_polls_keep_failing_is_failing_everywhere_then_recovers(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    wrong = contacts_recipe("wrong-table", "crm")
    wrong["trigger"]["table"] = "contactz"
    write_files(tmp_path, {"crm": connection(emulator)}, [wrong])
    async with running_daemon(tmp_path, reload_check_s=0.1) as ops:
        failing = await wait_for(ops.logs, lambda e: e["event"] == "recipe.failing", 15)
        _, ready = await ops.get_json("/readyz")
        shown = await page_state(ops, "wrong-table")
        listed = (await recipes_list(tmp_path))["wrong-table"]
        await asyncio.sleep(1.0)  # more failed polls: still one error line

        wrong["trigger"]["table"] = "contacts"
        (tmp_path / "recipes" / "wrong-table.yaml").write_text(yaml.safe_dump(wrong))
        await wait_for(ops.logs, lambda e: e["event"] == "recipe.recovered", 15)
        _, ready_after = await ops.get_json("/readyz")
        shown_after = await page_state(ops, "wrong-table")
        listed_after = (await recipes_list(tmp_path))["wrong-table"]

    failed = [e for e in ops.logs if e["event"] == "poll.failed"]
    assert len(failed) > FAILING_AFTER_POLLS and failed[0]["log_level"] == "warning"
    assert failing["log_level"] == "error" and failing["recipe"] == "wrong-table"
    assert failing["failed_polls"] == FAILING_AFTER_POLLS
    assert "contactz" in failing["error"]
    assert len([e for e in ops.logs if e["event"] == "recipe.failing"]) == 1
    assert ready["status"] == "degraded"
    assert "contactz" in ready["failing_recipes"]["wrong-table"]
    assert shown.startswith(f"failing ({FAILING_AFTER_POLLS}") and "contactz" in shown
    assert listed["failing"] is True and listed["state"].startswith("failing (")
    assert "contactz" in listed["state"]
    assert ready_after == {"status": "ok", "recipes": 1}
    assert shown_after == "running" and listed_after["state"] == "ok"


async def test_a_broken_edit_reads_the_same_in_the_log_the_page_and_recipes_list(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seeded_files(emulator, tmp_path, "edited", "crm", ["Lovelace"])
    path = tmp_path / "recipes" / "edited.yaml"
    good = path.read_text()
    async with running_daemon(tmp_path, reload_check_s=0.1) as ops:
        await ops.jobs_finished(1)
        path.write_text(good.replace("dynamics365.request", "dynamics365.reqest"))
        kept = await wait_for(ops.logs, lambda e: e["event"] == "recipe.kept_last_good")
        shown = await page_state(ops, "edited")
        _, ready = await ops.get_json("/readyz")
        listed = await recipes_list(tmp_path)

        path.write_text(good)
        await wait_for(ops.logs, lambda e: e["event"] == "recipe.file_fixed")
        shown_after = await page_state(ops, "edited")
        listed_after = await recipes_list(tmp_path)

    problems = [e for e in ops.logs if e["event"] == "recipe.problem"]
    assert problems and {e["recipe"] for e in problems} == {"edited"}
    words = "running last good version; file has problems: "
    assert kept["recipe"] == "edited" and kept["message"].startswith(words)
    assert "unknown action type 'dynamics365.reqest'" in kept["problem"]
    assert shown.startswith(words) and "dynamics365.reqest" in shown
    assert ready["status"] == "degraded" and "dynamics365.reqest" in ready["kept_last_good"][
        "edited"]
    assert listed["edited"]["state"].startswith(words) and listed["edited"]["enabled"] is True
    assert "dynamics365.reqest" in listed["edited"]["state"]
    assert shown_after == "running" and listed_after["edited"]["state"] == "ok"


async def test_a_file_broken_when_no_daemon_runs_it_is_just_broken(
    tmp_path: Path
) -> None:
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "typo.yaml").write_text(
        "name: typo\ntrigger: {type: schedul}\nactions: [{type: log, message: hi}]\n")
    (tmp_path / "connections.yaml").write_text("connections: {}\n")
    (tmp_path / "state").mkdir()
    await (await Store.open(state_url(tmp_path))).close()
    listed = await recipes_list(tmp_path)
    assert listed["typo"]["state"].startswith("broken: 2:")
    assert listed["typo"]["enabled"] is False
