"""A file the daemon touches from its event loop every few seconds, so that a health check
works without the HTTP listener (``RECIPE_RUNNER_LISTEN=off``): ``python -m
runner.healthcheck`` then passes while the file is fresh. A stalled loop stops touching it.

Where: ``RECIPE_RUNNER_HEARTBEAT_FILE``, else ``recipe-runner.alive`` beside the SQLite state
file (``state/recipe-runner.alive`` in the working directory for PostgreSQL), like the
token key file. ``runner.healthcheck`` finds it the same way, with the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import structlog

FILE_NAME = "recipe-runner.alive"
INTERVAL_S = 5.0
STALE_AFTER_S = 30.0  # what the health check allows: a few missed beats, not a stuck loop
_log = structlog.get_logger("recipe-runner")


def heartbeat_path(state_url: str, explicit: str | None = None) -> Path:
    """Where the heartbeat file is for this state store (see the module docstring)."""
    if explicit:
        return Path(explicit)
    for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
        if state_url.startswith(prefix):
            return Path(state_url[len(prefix):]).parent / FILE_NAME
    return Path("state") / FILE_NAME


class HeartbeatFile:
    """Touch ``path`` every ``interval_s`` while running; removed on a clean stop."""

    def __init__(self, path: Path, interval_s: float = INTERVAL_S) -> None:
        self.path = path
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._beat(), name="heartbeat-file")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(OSError):
            self.path.unlink()

    async def _beat(self) -> None:
        warned = False
        while True:
            try:
                self.path.touch(mode=0o600)
                os.utime(self.path)
            except OSError as exc:
                if not warned:  # once: a read-only folder must not flood the log
                    _log.warning("heartbeat.file_failed", file=str(self.path), error=str(exc))
                    warned = True
            await asyncio.sleep(self.interval_s)
