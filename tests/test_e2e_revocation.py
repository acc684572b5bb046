"""Revocation mid-run: the daemon pauses the connection's recipes with one clear log line
naming AADSTS50173 and the fix; `connections login` restores it and every record that
changed meanwhile is processed, none lost and none twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import yaml
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from emulator import RunningEmulator
from emulator.identity.testing import advance_clock, revoke_refresh_tokens
from runner.daemon import Daemon
from runner.settings import Settings
from tests.d365_support import insert_rows, iso
from tests.daemon_support import finished, until, wait_for
from tests.tokens_support import (
    USERNAME,
    login_with_browser,
    signed_in,
    state_url,
)

RECIPE = {
    "name": "contact-log",
    "trigger": {"type": "dynamics365.new_or_updated_record", "connection": "crm",
                "table": "contacts", "select": ["contactid", "fullname"], "since": "beginning",
                "poll_interval": "0.3s"},
    "actions": [{"type": "log", "message": "contact {{ trigger.record.fullname }}"}],
}


async def test_revoked_refresh_token_pauses_recipes_and_login_resumes_them(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    (tmp_path / "state").mkdir()
    await signed_in(emulator, tmp_path)
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "log.yaml").write_text(yaml.safe_dump(RECIPE))
    settings = Settings(recipes=[tmp_path / "recipes"],
                        connections=tmp_path / "connections.yaml",
                        state_url=state_url(tmp_path), listen="off", worker_id="w",
                        grace_s=2, token_recheck_s=0.3)
    past = time.time() - 3600
    async with emulator.client_session() as http:
        with capture_logs(processors=[merge_contextvars]) as logs:
            daemon = Daemon(settings)
            task = asyncio.create_task(daemon.run())
            before = [{"lastname": f"Before{i}", "modifiedon": iso(past)} for i in range(5)]
            await insert_rows(http, emulator, "contact", before)
            await until(lambda: len(finished(logs)) == 5, logs)

            await revoke_refresh_tokens(emulator, USERNAME)
            await advance_clock(emulator, 2 * 3600)  # the access token expires: 401, refresh
            # changed while the connection is broken; modifiedon is the emulator's now
            await insert_rows(http, emulator, "contact",
                              [{"lastname": f"During{i}"} for i in range(5)])
            invalid = await wait_for(logs, lambda e: e["event"] == "connection.invalid")
            await wait_for(logs, lambda e: e["event"] == "recipes.paused")
            assert len(finished(logs)) == 5  # nothing ran while the connection was broken

            assert await login_with_browser(emulator, tmp_path, "crm") == 0
            await wait_for(logs, lambda e: e["event"] == "recipes.resumed")
            await until(lambda: len(finished(logs)) == 10, logs)
            daemon.request_stop()
            assert await asyncio.wait_for(task, 10) == 0

    assert invalid["code"] == "AADSTS50173"
    assert invalid["fix"] == "run `recipe-runner connections login crm`"
    assert len([e for e in logs if e["event"] == "connection.invalid"]) == 1
    names = Counter(e["message"] for e in logs if e["event"] == "recipe.log")
    expected = {f"contact {kind}{i}" for kind in ("Before", "During") for i in range(5)}
    assert set(names) == expected and set(names.values()) == {1}
    assert {e["outcome"] for e in finished(logs)} == {"succeeded"}
