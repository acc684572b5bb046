"""PYTEST_DONT_REWRITE
Several ``recipe-runner run`` replicas as subprocesses on one PostgreSQL schema, against
the emulator: recipes, records, signals, and what the sink and the store saw afterwards.
Used by ``tests/test_cluster_replicas.py`` (emulator in the test's process) and
``bench/cluster_scale.py`` (emulator in a child process): only its URL, CA and HTTP are used.
``tests/crash_scenario.py`` reuses its contacts."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from cryptography.fernet import Fernet
from sqlalchemy import select

from runner.cluster import Lease, list_leases
from runner.store import JobStatus, Store
from runner.store.schema import jobs
from tests.d365_support import insert_rows, iso
from tests.daemon_support import daemon_env, prepare


class Emulator(Protocol):
    """An emulator reached over HTTP: ``RunningEmulator``, or ``bench/_emulator.py``'s
    ``EmulatorProcess``."""

    @property
    def base_url(self) -> str: ...

    @property
    def ca_file(self) -> Path | None: ...

    def client_session(self, **kwargs: Any) -> aiohttp.ClientSession: ...


def two_step_recipe(name: str, concurrency: int, poll_interval_s: float,
                    **trigger: Any) -> dict[str, Any]:
    """Recipe ``name``: every contact (narrowed by more ``trigger`` fields, e.g. a
    ``filter``) posted to the webhook sink ``first``, then to ``second``."""
    post = {"type": "http.request", "connection": "emulator", "method": "POST"}
    return {
        "name": name, "concurrency": concurrency, "max_pending": 100_000,
        "trigger": {"type": "dynamics365.new_or_updated_record", "connection": "crm",
                    "table": "contacts", "select": ["contactid"], **trigger,
                    "since": "beginning", "page_size": 500,
                    "poll_interval": f"{poll_interval_s:g}s"},
        "actions": [
            {**post, "id": "first", "url": "/_emulator/webhooks/first",
             "json": {"id": "{{ trigger.record.contactid }}"}},
            {**post, "id": "second", "url": "/_emulator/webhooks/second",
             "json": {"id": "{{ trigger.record.contactid }}",
                      "after": "{{ steps.first.json.received }}"}},
        ],
    }


def recipe(index: int, concurrency: int, poll_interval_s: float) -> dict[str, Any]:
    """Recipe ``r<index>``: the contacts with lastname ``L<index>``, two webhook steps;
    each polls on its own (``shared: false``), so the replicas have recipes to spread."""
    return two_step_recipe(f"r{index}", concurrency, poll_interval_s,
                           filter=f"lastname eq 'L{index}'", shared=False)


async def insert_contacts(emulator: Emulator, start: int, count: int, recipes: int,
                          *, backdated: bool) -> set[str]:
    """``count`` contacts spread over the recipes; ``backdated``: modified an hour ago."""
    hour_ago = time.time() - 3600
    rows = []
    for i in range(start, start + count):
        row = {"firstname": f"C{i}", "lastname": f"L{i % recipes}"}
        if backdated:
            row["modifiedon"] = iso(hour_ago + i // 100)
        rows.append(row)
    async with emulator.client_session() as http:
        return set(await insert_rows(http, emulator, "contact", rows))


async def sink(emulator: Emulator, name: str) -> Counter[str]:
    """How often each contact id reached the webhook sink ``name``."""
    url = f"{emulator.base_url}/_emulator/webhooks/{name}"
    async with emulator.client_session() as http, http.get(url) as resp:
        return Counter(p["id"] for p in (await resp.json())["received"])


@dataclass
class Replicas:
    """Replica processes ``replica-0`` … sharing one state URL; logs go to files."""

    args: list[str]
    folder: Path
    lease_ttl_s: float
    claim_ttl_s: float
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    key: str = field(default_factory=lambda: Fernet.generate_key().decode())

    @classmethod
    async def prepare(cls, emulator: Emulator, folder: Path, url: str,
                      recipes: dict[str, dict[str, Any]], *, lease_ttl_s: float,
                      claim_ttl_s: float) -> Replicas:
        args = await prepare(emulator, folder, recipes)
        args[args.index("--state") + 1] = url
        return cls(args, folder, lease_ttl_s, claim_ttl_s)

    async def start(self, name: str, *extra: str) -> None:
        env = daemon_env()
        env.update(RECIPE_RUNNER_WORKER_ID=name, RECIPE_RUNNER_SECRET_KEY=self.key,
                   RECIPE_RUNNER_LEASE_TTL_S=str(self.lease_ttl_s),
                   RECIPE_RUNNER_CLAIM_TTL_S=str(self.claim_ttl_s))
        with self.log_file(name).open("ab") as out:  # a file, never a pipe: a stopped
            self.processes[name] = await asyncio.create_subprocess_exec(  # reader blocks
                sys.executable, "-m", "runner.cli", "run", *self.args, *extra,
                stdout=out, stderr=asyncio.subprocess.STDOUT, env=env)

    def log_file(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def events(self, name: str) -> list[dict[str, Any]]:
        lines = self.log_file(name).read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def signal(self, name: str, sig: signal.Signals) -> None:
        self.processes[name].send_signal(sig)

    async def stop_all(self, timeout_s: float = 30) -> dict[str, int | None]:
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGCONT)
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                await asyncio.wait_for(process.wait(), timeout_s)
            except TimeoutError:
                process.kill()
                await process.wait()
        return {name: p.returncode for name, p in self.processes.items()}


async def leases_now(url: str) -> list[Lease]:
    async with await Store.open(url) as store, store.engine.begin() as conn:
        return await list_leases(conn)


async def job_statuses(url: str) -> Counter[str]:
    async with await Store.open(url) as store, store.engine.begin() as conn:
        rows = await conn.execute(select(jobs.c.status))
        return Counter(row.status for row in rows)


async def until_processed(emulator: Emulator, url: str, total: int,
                          timeout_s: float) -> None:
    """Wait until ``total`` contacts reached the second sink and every job succeeded."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(await sink(emulator, "second")) >= total:
            statuses = await job_statuses(url)
            if statuses[JobStatus.SUCCEEDED.value] == sum(statuses.values()):
                return
        await asyncio.sleep(0.5)
    raise AssertionError(f"not processed in {timeout_s}s: {len(await sink(emulator, 'second'))}"
                         f" of {total} reached the sink; jobs {dict(await job_statuses(url))}")
