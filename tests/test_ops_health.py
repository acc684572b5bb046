"""``/healthz`` answers from the event loop's heartbeat; ``/readyz`` says whether the
daemon can work: 503 while the state store is unreachable, ``degraded`` (naming the
connection) when a connection needs a person."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import structlog
from aiohttp import web

from connectors.catalog import default_registry
from emulator import RunningEmulator
from emulator.identity.testing import revoke_refresh_tokens
from runner.engine import Engine, WorkerSettings
from runner.ops.heartbeat import Heartbeat
from runner.ops.routes import mount_ops
from runner.runtime import ConnectionPool
from runner.store import Store
from tests.ops_support import contacts_recipe, running_daemon, webhook_recipe, write_files
from tests.tokens_support import (
    USERNAME,
    browser_user,
    login_with_browser,
    state_url,
)


@asynccontextmanager
async def ops_app(folder: Path, heartbeat: Heartbeat) -> AsyncIterator[str]:
    """Only the operations routes, over a real engine and store; the base URL."""
    (folder / "state").mkdir(exist_ok=True)
    async with await Store.open(state_url(folder)) as store:
        engine = Engine(store, default_registry(), ConnectionPool(None),
                        structlog.get_logger(), WorkerSettings("w"))
        app = web.Application()
        mount_ops(app, engine, heartbeat=heartbeat)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()


async def get_json(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


async def test_healthz_is_ok_while_the_loop_beats_and_503_once_it_stops(tmp_path: Path) -> None:
    heartbeat = Heartbeat(interval_s=0.05, stale_after_s=0.3)
    async with ops_app(tmp_path, heartbeat) as base:
        await asyncio.sleep(0.2)
        beating = await get_json(base + "/healthz")
        await heartbeat.stop()  # what a loop stuck elsewhere looks like from here
        await asyncio.sleep(0.4)
        stalled = await get_json(base + "/healthz")

    assert beating[0] == 200 and beating[1]["status"] == "ok"
    assert stalled[0] == 503 and stalled[1]["status"] == "stalled"


async def test_readyz_without_recipes_is_not_ready(tmp_path: Path) -> None:
    async with ops_app(tmp_path, Heartbeat()) as base:
        status, body = await get_json(base + "/readyz")
    assert status == 503 and body == {"status": "not ready", "problems": ["no recipe loaded"]}


async def test_readyz_is_503_while_the_state_store_is_unreachable_and_recovers(
    tmp_path: Path
) -> None:
    write_files(tmp_path, {}, [webhook_recipe("ready-hook")])
    (tmp_path / "connections.yaml").unlink()
    async with running_daemon(tmp_path) as ops:
        assert ops.daemon.engine is not None
        engine = ops.daemon.engine.store.engine
        before = await ops.get_json("/readyz")
        (tmp_path / "state").rename(tmp_path / "state-gone")  # the volume went away
        await engine.dispose()  # no pooled connection keeps the old file open
        gone = await ops.get_json("/readyz")
        healthy_meanwhile = await ops.get_json("/healthz")
        (tmp_path / "state-gone").rename(tmp_path / "state")
        await engine.dispose()
        back = await ops.get_json("/readyz")

    assert before == (200, {"status": "ok", "recipes": 1})
    assert gone[0] == 503 and gone[1]["status"] == "not ready"
    assert gone[1]["problems"][0].startswith("state store unreachable")
    assert healthy_meanwhile[0] == 200  # alive, just not ready: no restart wanted
    assert back == (200, {"status": "ok", "recipes": 1})


async def test_readyz_is_degraded_and_names_a_connection_revoked_in_the_emulator(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    write_files(tmp_path, {"crm": await browser_user(emulator)},
                [contacts_recipe("ready-contacts", "crm"), webhook_recipe("ready-hook")])
    assert await login_with_browser(emulator, tmp_path, "crm") == 0
    async with running_daemon(tmp_path) as ops:
        assert ops.daemon.tokens is not None
        await ops.daemon.tokens.tokens("crm").access_token()
        before = await ops.get_json("/readyz")
        await revoke_refresh_tokens(emulator, USERNAME)
        await ops.daemon.tokens.keep_alive()  # the daemon's scheduled refresh, run now
        degraded = await ops.get_json("/readyz")
        _, page, _ = await ops.get("/")

    assert before == (200, {"status": "ok", "recipes": 2})
    assert degraded == (200, {"status": "degraded", "recipes": 2, "invalid_connections": ["crm"],
                              "paused_recipes": ["ready-contacts"]})
    assert "AADSTS50173" in page and "paused: connection crm is invalid" in page
