"""PYTEST_DONT_REWRITE
kill -9 one ``recipe-runner run`` at random moments while contacts flow through a two-step
webhook recipe, finish with ``--burst`` runs, then count what the sinks and the store saw.
Used by ``tests/test_crash_safety.py`` (emulator in the test's process) and
``bench/crash_soak.py`` (emulator in a child process)."""

from __future__ import annotations

import asyncio
import random
import signal
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from runner.store import JobStatus, Store
from tests.cluster_scenario import Emulator, insert_contacts, sink, two_step_recipe
from tests.daemon_support import prepare, run_daemon, start_daemon
from tests.tokens_support import state_url

RECIPE = "two-steps"


@dataclass(frozen=True)
class CrashOutcome:
    """The records inserted, how often each reached each sink, and the jobs by status."""

    ids: set[str]
    first: Counter[str]
    second: Counter[str]
    jobs: dict[JobStatus, int]

    @property
    def lost(self) -> int:
        """Records that did not reach both sinks."""
        return len(self.ids - (self.first.keys() & self.second.keys()))

    @property
    def repeats(self) -> int:
        """Steps that ran more than once."""
        return sum(n - 1 for sunk in (self.first, self.second) for n in sunk.values())

    @property
    def jobs_off(self) -> int:
        """Jobs short of (or beyond) exactly one succeeded job per record."""
        others = sum(n for status, n in self.jobs.items() if status != JobStatus.SUCCEEDED)
        return others + abs(self.jobs[JobStatus.SUCCEEDED] - len(self.ids))


async def prepare_flow(emulator: Emulator, folder: Path, records: int,
                       concurrency: int) -> tuple[list[str], set[str]]:
    """The recipe, connections and state under ``folder``, and ``records`` contacts modified
    an hour ago; the daemon's CLI options and the contact ids."""
    spec = two_step_recipe(RECIPE, concurrency, poll_interval_s=1.0)
    args = await prepare(emulator, folder, {"two": spec})
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
    """``--burst`` runs until every record reached the second sink (at most ``runs``)."""
    for _ in range(runs):
        finished = await run_daemon(*args, "--burst", timeout_s=timeout_s)
        assert finished.returncode == 0, finished.stderr[-2000:]
        if len(await sink(emulator, "second")) >= records:
            return


async def outcome(emulator: Emulator, folder: Path, ids: set[str]) -> CrashOutcome:
    first, second = await sink(emulator, "first"), await sink(emulator, "second")
    async with await Store.open(state_url(folder)) as store:
        jobs = await store.count_jobs_by_status(RECIPE)
    return CrashOutcome(ids, first, second, jobs)
