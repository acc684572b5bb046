"""A wrong client secret pauses the connection's recipes; fixing the secret and reloading
(SIGHUP, or the connections file changing) resumes them and loses no record."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import yaml
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from emulator import RunningEmulator
from runner.daemon import Daemon
from runner.settings import Settings
from tests.d365_support import insert_rows, iso
from tests.daemon_support import finished, until, wait_for
from tests.test_e2e_revocation import RECIPE
from tests.tokens_support import (
    CLIENT_SECRET,
    connection,
    seed_tenant,
    state_url,
    write_connections,
)


async def test_fixed_secret_and_reload_resume_paused_recipes(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    write_connections(tmp_path, {"crm": connection(emulator)}, client_secret="not-the-secret")
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "log.yaml").write_text(yaml.safe_dump(RECIPE))
    settings = Settings(recipes=[tmp_path / "recipes"], connections=tmp_path / "connections.yaml",
                        state_url=state_url(tmp_path), listen="off", worker_id="w",
                        grace_s=2, token_recheck_s=0.3, reload_check_s=60)
    rows = [{"lastname": f"Waiting{i}", "modifiedon": iso(time.time() - 600)} for i in range(4)]
    async with emulator.client_session() as http:
        await insert_rows(http, emulator, "contact", rows)
    with capture_logs(processors=[merge_contextvars]) as logs:
        daemon = Daemon(settings)
        task = asyncio.create_task(daemon.run())
        invalid = await wait_for(logs, lambda e: e["event"] == "connection.invalid")
        await wait_for(logs, lambda e: e["event"] == "recipes.paused")
        assert finished(logs) == []

        (tmp_path / "client_secret.txt").write_text(CLIENT_SECRET + "\n")
        daemon._reload.set()  # what SIGHUP does
        await wait_for(logs, lambda e: e["event"] == "connections.reloaded")
        await until(lambda: len(finished(logs)) == 4, logs)
        daemon.request_stop()
        assert await asyncio.wait_for(task, 10) == 0
    assert invalid["code"] == "AADSTS7000215"
    assert {e["outcome"] for e in finished(logs)} == {"succeeded"}
    assert CLIENT_SECRET not in str(logs)
