"""A recipe that updates the rows its own trigger watches does not start itself again when
its trigger sets ``ignore_own_changes``: each real change makes one job (and without it the
loop is real, which ``validate`` warns about)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.catalog import default_registry
from emulator import RunningEmulator
from emulator.identity.testing import add_user
from runner.recipes import load_recipe
from runner.store import Store
from tests.d365_support import d365_client, insert_rows, iso
from tests.daemon_support import prepare, run_daemon
from tests.tokens_support import state_url


def stamper(ignore_own_changes: bool, impersonate: str | None = None) -> dict[str, Any]:
    step = {"type": "dynamics365.update_record", "connection": "crm",
            "table": "accounts", "record_id": "{{ trigger.record.accountid }}",
            "fields": {"description": "seen {{ trigger.record.name }}"}}
    if impersonate is not None:
        step["impersonate"] = {"object_id": impersonate}
    return {"name": "stamp", "trigger": {
        "type": "dynamics365.new_or_updated_record", "connection": "crm", "table": "accounts",
        "select": ["name", "description"], "since": "beginning", "lookback": "1s",
        "safety_lag": "0s", "ignore_own_changes": ignore_own_changes},
        "actions": [step]}


async def jobs(folder: Path) -> int:
    async with await Store.open(state_url(folder)) as store:
        return len(await store.list_jobs("stamp"))


@pytest.mark.parametrize(("ignore", "after_second_run"), [(True, 3), (False, 6)])
async def test_own_updates_do_not_trigger_the_recipe_again(
        emulator: RunningEmulator, tmp_path: Path, ignore: bool, after_second_run: int) -> None:
    options = await prepare(emulator, tmp_path, {"stamp": stamper(ignore)})
    async with emulator.client_session() as http:
        await insert_rows(http, emulator, "account", [
            {"name": f"A{i}", "modifiedon": iso(time.time() - 60)} for i in range(3)])
    for _ in range(2):
        run = await run_daemon(*options, "--burst")
        assert run.returncode == 0, run.stderr
        await asyncio.sleep(1.1)  # the emulator stamps whole seconds
    assert await jobs(tmp_path) == after_second_run
    async with emulator.client_session() as http:  # someone else's change: one more job
        await insert_rows(http, emulator, "account", [{"name": "B"}])
    assert (await run_daemon(*options, "--burst")).returncode == 0
    if ignore:
        assert await jobs(tmp_path) == 4


async def test_updates_made_impersonating_another_user_are_still_its_own(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    grace = await add_user(emulator, username="grace@emulator.test", password="pw",
                           display_name="Grace Hopper")
    options = await prepare(emulator, tmp_path, {"stamp": stamper(True, grace["object_id"])})
    async with emulator.client_session() as http:
        await insert_rows(http, emulator, "account", [
            {"name": f"A{i}", "modifiedon": iso(time.time() - 60)} for i in range(3)])
    for _ in range(2):
        run = await run_daemon(*options, "--burst")
        assert run.returncode == 0, run.stderr
        await asyncio.sleep(1.1)
    assert await jobs(tmp_path) == 3
    async with d365_client(emulator) as client:  # written as Grace, on our behalf
        rows = (await client.get_json("accounts", {
            "$select": "description,_modifiedby_value,_modifiedonbehalfby_value"}))["value"]
    assert sorted(r["description"] for r in rows) == ["seen A0", "seen A1", "seen A2"]
    assert all(r["_modifiedonbehalfby_value"] not in (None, r["_modifiedby_value"])
               for r in rows)


def test_validate_warns_about_a_step_that_writes_to_its_own_trigger_table(
        tmp_path: Path) -> None:
    file = tmp_path / "stamp.yaml"
    file.write_text(_yaml(stamper(False)))
    recipe, problems = load_recipe(file, default_registry(), {"crm": "dynamics365"})
    assert recipe is not None
    assert [str(p) for p in problems] == [
        f"{file}:16:10: warning: actions[0].table: writes to accounts, the table this "
        "recipe's trigger watches: each write is a change that starts the recipe again (a "
        "loop); set ignore_own_changes: true on the trigger, or give this step an if:"]
    file.write_text(_yaml(stamper(True)))
    assert load_recipe(file, default_registry(), {"crm": "dynamics365"})[1] == []


def _yaml(recipe: dict[str, Any]) -> str:
    return yaml.safe_dump(recipe, sort_keys=False)
