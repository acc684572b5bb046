"""A wrong client secret is handled the same way on a fresh state and after a restart with
the connection already stored as invalid: ``connection.invalid`` with the code and the fix,
the recipes paused (``recipes.paused``, ``/readyz`` lists them), and no ``poll.failed``
warning per poll (only the one poll that found it out, on a fresh state). Fixed while the
daemon was down, it resumes at once on the next start."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from emulator import RunningEmulator
from runner.store import ConnectionStatus, Store
from tests.daemon_support import wait_for
from tests.ops_support import contacts_recipe, running_daemon, webhook_recipe, write_files
from tests.tokens_support import (
    CLIENT_SECRET,
    connection,
    seed_tenant,
    state_url,
    write_connections,
)


async def one_run(folder: Path, quiet_s: float = 1.5, until: str = "recipes.paused",
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The daemon's log lines and its ``/readyz`` once ``until`` was logged and ``quiet_s``
    of polling passed."""
    async with running_daemon(folder) as ops:
        await wait_for(ops.logs, lambda e: e["event"] == until)
        await asyncio.sleep(quiet_s)  # five polls at 0.3 s would each warn if not paused
        _, ready = await ops.get_json("/readyz")
    return ops.logs, ready


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


async def test_wrong_secret_is_handled_the_same_fresh_and_after_a_restart(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    write_files(tmp_path, {"crm": connection(emulator)}, [contacts_recipe("wrong", "crm")])
    write_connections(tmp_path, {"crm": connection(emulator)}, client_secret="not-the-secret")

    runs = [await one_run(tmp_path), await one_run(tmp_path)]

    for run, (logs, ready) in enumerate(runs):
        invalid = events(logs, "connection.invalid")
        assert [e["code"] for e in invalid] == ["AADSTS7000215"]
        assert "client secret" in invalid[0]["meaning"]
        assert invalid[0]["fix"].endswith("`recipe-runner connections test crm`")
        assert [e["recipes"] for e in events(logs, "recipes.paused")] == [["wrong"]]
        # fresh: the one poll that found it out; after the restart: none at all
        assert len(events(logs, "poll.failed")) == (1 if run == 0 else 0)
        assert ready["status"] == "degraded"
        assert ready["invalid_connections"] == ["crm"]
        assert ready["paused_recipes"] == ["wrong"]


async def test_a_secret_fixed_while_the_daemon_was_down_resumes_at_the_next_start(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    write_files(tmp_path, {"crm": connection(emulator)}, [contacts_recipe("fixed", "crm")])
    write_connections(tmp_path, {"crm": connection(emulator)}, client_secret="not-the-secret")
    await one_run(tmp_path, quiet_s=0)
    write_connections(tmp_path, {"crm": connection(emulator)}, client_secret=CLIENT_SECRET)

    logs, ready = await one_run(tmp_path, quiet_s=0, until="recipes.resumed")

    assert [e["recipes"] for e in events(logs, "recipes.resumed")] == [["fixed"]]
    assert ready == {"status": "ok", "recipes": 1}


async def test_a_broken_connection_no_recipe_uses_does_not_degrade_readyz(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    write_files(tmp_path, {"spare": connection(emulator)}, [webhook_recipe("inbound")])
    (tmp_path / "state").mkdir(exist_ok=True)
    async with await Store.open(state_url(tmp_path)) as store:
        await store.set_connection_state("spare", ConnectionStatus.INVALID,
                                         "AADSTS7000215: the client secret is wrong")
    async with running_daemon(tmp_path) as ops:
        status, ready = await ops.get_json("/readyz")
    assert (status, ready) == (200, {"status": "ok", "recipes": 1})
