"""Shared by ``tests/hostile``: a real daemon, in-process, listening on a free loopback port,
and the check every hostile test ends with: the daemon still answers ``/healthz`` within 1 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from runner.daemon import Daemon
from runner.settings import Settings
from tests.daemon_support import wait_for

HEALTH_BUDGET_S = 1.0
TICK = """\
name: tick
trigger: {type: schedule, every: 1h, poll_interval: 1h}
actions:
  - type: log
    message: tick
"""


@dataclass
class HostileDaemon:
    daemon: Daemon
    logs: list[dict[str, Any]]
    base_url: str
    folder: Path
    task: asyncio.Task[int] = field(repr=False)

    @property
    def recipes(self) -> Path:
        return self.folder / "recipes"

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.logs if e["event"] == name]

    async def reloaded(self, count: int = 1, timeout_s: float = 10.0) -> None:
        """Wait until the daemon finished (or gave up) ``count`` more reloads."""
        done = ("daemon.reloaded", "daemon.reload_failed", "recipes.kept_last_good")
        start = len([e for e in self.logs if e["event"] in done])
        await wait_for(self.logs, lambda e: len(
            [x for x in self.logs if x["event"] in done]) >= start + count, timeout_s)


async def health_latency_s(base_url: str) -> float:
    """Seconds ``/healthz`` took to answer 200; fails past ``HEALTH_BUDGET_S``."""
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=HEALTH_BUDGET_S)
    async with aiohttp.ClientSession(timeout=timeout) as http, \
            http.get(f"{base_url}/healthz") as resp:
        assert resp.status == 200, await resp.text()
    return time.monotonic() - started


async def assert_healthy(running: HostileDaemon) -> None:
    """The task is alive and ``/healthz`` answers within the budget."""
    assert not running.task.done(), f"the daemon ended: {running.task}"
    assert await health_latency_s(running.base_url) < HEALTH_BUDGET_S


@asynccontextmanager
async def hostile_daemon(folder: Path, recipes: dict[str, str] | None = None, *,
                         connections: str | None = None,
                         **settings: Any) -> AsyncIterator[HostileDaemon]:
    """A daemon over ``folder/recipes`` (``name -> YAML text``; a harmless ``tick`` recipe
    when none), reloading every 0.1 s, listening on a free loopback port."""
    (folder / "recipes").mkdir(exist_ok=True)
    for name, text in (recipes if recipes is not None else {"tick": TICK}).items():
        (folder / "recipes" / f"{name}.yaml").write_text(text)
    if connections is not None:
        (folder / "connections.yaml").write_text(connections)
        settings.setdefault("connections", folder / "connections.yaml")
    settings.setdefault("state_url", f"sqlite:///{folder / 'state.db'}")
    config = Settings(recipes=[folder / "recipes"], listen="127.0.0.1:0", worker_id="hostile",
                      grace_s=2, reload_check_s=0.1, **settings)
    daemon = Daemon(config)
    with capture_logs(processors=[merge_contextvars]) as logs:
        task = asyncio.create_task(daemon.run())
        try:
            await wait_for(logs, lambda e: e["event"] in ("daemon.listening",
                                                          "daemon.cannot_start"), 15)
            assert daemon.listen_port is not None, [e["event"] for e in logs]
            yield HostileDaemon(daemon, logs, f"http://127.0.0.1:{daemon.listen_port}",
                                folder, task)
        finally:
            daemon.request_stop()
            await asyncio.wait_for(task, 15)
