"""Three replicas on one PostgreSQL, records flowing: one is killed (SIGKILL) mid-flow,
another paused (SIGSTOP) for longer than the lease TTL and resumed. Every record is
processed, each step once except those in flight in the killed replica, and the killed
replica's recipes are re-owned within the lease TTL plus one poll interval."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from emulator import RunningEmulator
from runner.store import JobStatus
from tests.cluster_scenario import (
    Replicas,
    insert_contacts,
    job_statuses,
    leases_now,
    recipe,
    sink,
    until_processed,
)

pytest_plugins = ["tests.cluster_support"]

RECIPES, CONCURRENCY, BATCH = 10, 4, 1000  # three batches: 3,000 records
LEASE_TTL_S, CLAIM_TTL_S, POLL_INTERVAL_S, PAUSE_S = 3.0, 10.0, 1.0, 5.0
KILLED, PAUSED = "replica-0", "replica-1"


async def _until(check_s: float, condition: object, what: str) -> None:
    deadline = time.monotonic() + check_s
    while not await condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_kill_and_pause_lose_nothing_repeat_only_killed_steps_and_reown_in_time(
    emulator: RunningEmulator, tmp_path: Path, cluster_url: str
) -> None:
    recipes = {f"r{i}": recipe(i, CONCURRENCY, POLL_INTERVAL_S) for i in range(RECIPES)}
    replicas = await Replicas.prepare(emulator, tmp_path, cluster_url, recipes,
                                      lease_ttl_s=LEASE_TTL_S, claim_ttl_s=CLAIM_TTL_S)
    ids = await insert_contacts(emulator, 0, BATCH, RECIPES, backdated=True)
    for n in range(3):
        await replicas.start(f"replica-{n}")
    try:
        async def owners_settled() -> bool:
            owners = {lease.owner for lease in await leases_now(cluster_url)}
            return owners == {f"replica-{n}" for n in range(3)}

        await _until(20, owners_settled, "every replica to own recipes")

        async def flowing() -> bool:
            return len(await sink(emulator, "second")) >= BATCH // 3

        await _until(30, flowing, "records to flow")
        killed_owned = {le.recipe for le in await leases_now(cluster_url) if le.owner == KILLED}
        replicas.signal(KILLED, signal.SIGKILL)
        killed_at = time.monotonic()

        async def reowned() -> bool:
            leases = {le.recipe: le for le in await leases_now(cluster_url)}
            return all(leases[r].owner not in (None, KILLED) for r in killed_owned)

        await _until(LEASE_TTL_S + POLL_INTERVAL_S + 5, reowned, "the killed recipes")
        reowned_after_s = time.monotonic() - killed_at
        ids |= await insert_contacts(emulator, BATCH, BATCH, RECIPES, backdated=False)

        replicas.signal(PAUSED, signal.SIGSTOP)
        ids |= await insert_contacts(emulator, 2 * BATCH, BATCH, RECIPES, backdated=False)
        await asyncio.sleep(PAUSE_S)
        replicas.signal(PAUSED, signal.SIGCONT)

        await until_processed(emulator, cluster_url, len(ids), timeout_s=60)
    finally:
        await replicas.stop_all()

    first, second = await sink(emulator, "first"), await sink(emulator, "second")
    assert set(first) == ids and set(second) == ids  # nothing lost
    repeats = sum(n - 1 for n in first.values()) + sum(n - 1 for n in second.values())
    print(f"re-owned after {reowned_after_s:.1f}s; {repeats} step(s) ran again")
    assert repeats <= RECIPES * CONCURRENCY  # only the killed replica's claimed jobs
    assert await job_statuses(cluster_url) == {JobStatus.SUCCEEDED.value: len(ids)}
    assert reowned_after_s <= LEASE_TTL_S + POLL_INTERVAL_S

    paused_log = replicas.events(PAUSED)
    assert any(e["event"] == "lease.lost" for e in paused_log)  # it noticed on waking
    killed_steals = [e for n in ("replica-1", "replica-2") for e in replicas.events(n)
                     if e["event"] == "lease.acquired" and e["recipe"] in killed_owned]
    assert {e["recipe"] for e in killed_steals} == killed_owned
