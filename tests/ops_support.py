"""Shared by the ``test_ops_*`` tests: a real daemon, in-process, on the emulator, with its
listener on a free loopback port, and a recipe whose jobs succeed or fail by the record."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from emulator import RunningEmulator
from runner.daemon import Daemon
from runner.settings import Settings
from tests.d365_support import insert_rows, iso
from tests.daemon_support import wait_for
from tests.tokens_support import CLIENT_SECRET, connection, seed_tenant, state_url

MISSING_ID = "00000000-0000-4000-8000-000000000404"
GHOST = "Ghost"  # contacts with this last name make their job fail


def contacts_recipe(name: str, connection_name: str) -> dict[str, Any]:
    """Each contact: log it, then read it back; a ``Ghost`` reads a missing id and fails."""
    record_id = ("{{ '" + MISSING_ID + "' if trigger.record.lastname == '" + GHOST
                 + "' else trigger.record.contactid }}")
    return {
        "name": name,
        "trigger": {"type": "dynamics365.new_or_updated_record", "connection": connection_name,
                    "table": "contacts", "select": ["contactid", "fullname", "lastname",
                                                    "modifiedon"],
                    "since": "beginning", "poll_interval": "0.3s"},
        "actions": [
            {"type": "log", "message": "contact {{ trigger.record.lastname }}"},
            {"id": "read", "type": "dynamics365.request", "connection": connection_name,
             "path": "contacts(" + record_id + ")", "query": {"$select": "fullname"}},
        ],
    }


def webhook_recipe(name: str) -> dict[str, Any]:
    return {"name": name, "trigger": {"type": "http.webhook", "auth": "none"},
            "actions": [{"type": "log", "message": "hook"}]}


@dataclass
class OpsDaemon:
    daemon: Daemon
    logs: list[dict[str, Any]]
    base_url: str
    folder: Path

    async def get(self, path: str, **headers: str) -> tuple[int, str, dict[str, str]]:
        async with aiohttp.ClientSession() as http, http.get(self.base_url + path,
                                                              headers=headers) as resp:
            return resp.status, await resp.text(), dict(resp.headers)

    async def get_json(self, path: str) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http, http.get(self.base_url + path) as resp:
            return resp.status, await resp.json()

    async def jobs_finished(self, count: int, timeout_s: float = 15.0) -> None:
        await wait_for(self.logs, lambda _e: sum(
            e["event"] == "job.finished" for e in self.logs) >= count, timeout_s)


def write_files(folder: Path, connections: dict[str, Any],
                recipes: list[dict[str, Any]]) -> Path:
    """``connections.yaml`` (with the secret file) and a recipes folder in ``folder``."""
    (folder / "client_secret.txt").write_text(CLIENT_SECRET + "\n")
    (folder / "connections.yaml").write_text(yaml.safe_dump({"connections": connections}))
    (folder / "recipes").mkdir(exist_ok=True)
    (folder / "state").mkdir(exist_ok=True)
    for recipe in recipes:
        (folder / "recipes" / f"{recipe['name']}.yaml").write_text(yaml.safe_dump(recipe))
    return folder / "connections.yaml"


async def seed_contacts(emulator: RunningEmulator, last_names: list[str],
                        first_name: str = "Ada") -> list[str]:
    an_hour_ago = time.time() - 3600
    rows = [{"firstname": first_name, "lastname": last, "modifiedon": iso(an_hour_ago + i)}
            for i, last in enumerate(last_names)]
    async with emulator.client_session() as http:
        return await insert_rows(http, emulator, "contact", rows)


@asynccontextmanager
async def running_daemon(folder: Path, **settings: Any) -> AsyncIterator[OpsDaemon]:
    """The daemon over ``folder``'s files, listening on a free loopback port until the block
    ends (then stopped gracefully; its exit code must be 0)."""
    values: dict[str, Any] = {
        "recipes": [folder / "recipes"], "state_url": state_url(folder),
        "listen": "127.0.0.1:0", "worker_id": "ops-w", "grace_s": 2,
        "connections": folder / "connections.yaml"
        if (folder / "connections.yaml").exists() else None}
    values.update(settings)
    daemon = Daemon(Settings(**values))
    with capture_logs(processors=[merge_contextvars]) as logs:
        task = asyncio.create_task(daemon.run())
        try:
            await wait_for(logs, lambda e: e["event"] in ("daemon.listening",
                                                          "daemon.cannot_start"))
            yield OpsDaemon(daemon, logs, f"http://127.0.0.1:{daemon.listen_port}", folder)
        finally:
            daemon.request_stop()
            code = await asyncio.wait_for(task, 15)
    assert code == 0, [e for e in logs if e.get("log_level") == "error"]


async def seeded_files(emulator: RunningEmulator, folder: Path, recipe: str,
                       connection_name: str, last_names: list[str]) -> None:
    """A tenant, a client-credentials connection, the contacts recipe and its contacts; the
    ``Ghost`` contact's first name is the client secret (it must never be shown)."""
    await seed_tenant(emulator)
    write_files(folder, {connection_name: connection(emulator)},
                [contacts_recipe(recipe, connection_name)])
    good = [n for n in last_names if n != GHOST]
    await seed_contacts(emulator, good)
    if GHOST in last_names:
        await seed_contacts(emulator, [GHOST], first_name=CLIENT_SECRET)


def visible_text(html: str) -> str:
    """Roughly what a person reads: tags dropped, entities decoded, spaces collapsed."""
    without_style = re.sub(r"<style.*?</style>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", without_style)).split())
