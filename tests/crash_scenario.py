"""PYTEST_DONT_REWRITE
kill -9 one ``recipe-runner run`` at random moments while contacts flow through a recipe with
two side effects — a Dataverse task created for each contact, then a POST to a webhook sink
— finish with ``--burst`` runs, then count the **effects**: tasks in Dataverse per contact,
POSTs per contact and their ``Idempotency-Key`` headers, and the jobs in the store.
Used by ``tests/test_crash_safety.py`` (emulator in the test's process) and
``bench/crash_soak.py`` (emulator in a child process)."""

from __future__ import annotations

import asyncio
import random
import signal
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.store import JobStatus, Store
from tests.cluster_scenario import Emulator, insert_contacts
from tests.daemon_support import prepare, run_daemon, start_daemon
from tests.tokens_support import state_url

RECIPE = "effects"
SINK = "/_emulator/webhooks/effects"


def effects_recipe(concurrency: int, poll_interval_s: float = 1.0) -> dict[str, Any]:
    """Every contact: a task whose subject is the contact id, then a POST naming both."""
    return {
        "name": RECIPE, "concurrency": concurrency, "max_pending": 100_000,
        "trigger": {"type": "dynamics365.new_or_updated_record", "connection": "crm",
                    "table": "contacts", "select": ["contactid"], "since": "beginning",
                    "page_size": 500, "poll_interval": f"{poll_interval_s:g}s"},
        "actions": [
            {"id": "task", "type": "dynamics365.create_record", "connection": "crm",
             "table": "tasks", "fields": {"subject": "{{ trigger.record.contactid }}"}},
            {"id": "post", "type": "http.request", "connection": "emulator",
             "method": "POST", "url": SINK,
             "json": {"id": "{{ trigger.record.contactid }}", "task": "{{ steps.task.id }}"}},
        ],
    }


@dataclass(frozen=True)
class CrashOutcome:
    """The contacts inserted, the effects seen for each, and the jobs by status."""

    ids: set[str]
    tasks: Counter[str]  # contact id -> tasks in Dataverse made for it
    post_keys: dict[str, list[str | None]]  # contact id -> Idempotency-Key of each POST
    jobs: dict[JobStatus, int]

    @property
    def lost(self) -> int:
        """Contacts without their task or without their POST."""
        return len(self.ids - (self.tasks.keys() & self.post_keys.keys()))

    @property
    def duplicate_rows(self) -> int:
        """Tasks beyond one per contact: a create that happened twice."""
        return sum(n - 1 for n in self.tasks.values() if n > 1)

    @property
    def duplicate_posts_unkeyed(self) -> int:
        """POSTs beyond one per contact that a receiver could not recognise as repeats
        (no key, or a key different from the first POST's)."""
        return sum(len(set(keys)) - 1 + keys.count(None) for keys in self.post_keys.values())

    @property
    def repeated_posts(self) -> int:
        """POSTs sent again with the same key (a step in flight at a kill)."""
        return sum(len(keys) - len(set(keys)) for keys in self.post_keys.values())

    @property
    def jobs_off(self) -> int:
        """Jobs short of (or beyond) exactly one succeeded job per contact."""
        others = sum(n for status, n in self.jobs.items() if status != JobStatus.SUCCEEDED)
        return others + abs(self.jobs.get(JobStatus.SUCCEEDED, 0) - len(self.ids))


async def prepare_flow(emulator: Emulator, folder: Path, records: int,
                       concurrency: int) -> tuple[list[str], set[str]]:
    """The recipe, connections and state under ``folder``, and ``records`` contacts modified
    an hour ago; the daemon's CLI options and the contact ids."""
    # Crash safety, not throttling, is on trial: the service protection limits are lifted
    # and the connection may send as fast as the daemon can.
    async with emulator.client_session() as http, http.put(
            f"{emulator.base_url}/_emulator/protection", json={"enabled": False}) as resp:
        assert resp.status == 200, await resp.text()
    args = await prepare(emulator, folder, {"effects": effects_recipe(concurrency)},
                         crm={"requests_per_s": 2000, "max_concurrent": 32})
    return args, await insert_contacts(emulator, 0, records, 1, backdated=True)


async def kill_at_random(args: list[str], kills: int, rng: random.Random) -> None:
    """Start the daemon and SIGKILL it 0.8–2 s later, ``kills`` times."""
    for _ in range(kills):
        process = await start_daemon(*args)
        await asyncio.sleep(rng.uniform(0.8, 2.0))
        process.send_signal(signal.SIGKILL)
        await process.communicate()


async def finish(emulator: Emulator, args: list[str], records: int, *, runs: int = 5,
                 timeout_s: float = 120) -> None:
    """``--burst`` runs until every contact was posted (at most ``runs``)."""
    for _ in range(runs):
        finished = await run_daemon(*args, "--burst", timeout_s=timeout_s)
        assert finished.returncode == 0, finished.stderr[-2000:]
        if len(await posted(emulator)) >= records:
            return


async def posted(emulator: Emulator) -> dict[str, list[str | None]]:
    """Each contact's POSTs to the sink, as their Idempotency-Key headers."""
    async with emulator.client_session() as http, \
            http.get(emulator.base_url + SINK) as resp:
        body = await resp.json()
    keys: dict[str, list[str | None]] = defaultdict(list)
    for post, key in zip(body["received"], body["idempotency_keys"], strict=True):
        keys[post["id"]].append(key)
    return dict(keys)


async def tasks_made(emulator: Emulator) -> Counter[str]:
    """Tasks in Dataverse per contact id (their subject)."""
    url = f"{emulator.base_url}/_emulator/dataverse/tables/task/rows"
    async with emulator.client_session() as http, http.get(url) as resp:
        return Counter(row["subject"] for row in (await resp.json())["rows"])


async def outcome(emulator: Emulator, folder: Path, ids: set[str]) -> CrashOutcome:
    async with await Store.open(state_url(folder)) as store:
        jobs = await store.count_jobs_by_status(RECIPE)
    return CrashOutcome(ids, await tasks_made(emulator), await posted(emulator), jobs)
