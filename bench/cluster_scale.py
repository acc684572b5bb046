"""Benchmark: several replicas on one PostgreSQL. Not a test.

Prints (a) jobs/s with 1, 2 and 3 replicas on the same PostgreSQL, with the CPU seconds
each replica used (a two-step recipe of ``log`` actions, so the engine and the store are
what is measured, not the webhook sink); (b) one replica on PostgreSQL vs SQLite, as a
ratio; (c) the full failure scenario of issue 8: 3 replicas, 50 recipes, 20,000 records,
one SIGKILLed mid-flow, one SIGSTOPped past the lease TTL and resumed: records lost,
steps repeated, time to re-own the killed replica's recipes, CPU seconds per process. The
emulator runs in its own process (``bench/_emulator.py``; it receives the scenario's 40,000
webhook posts and serves every poll); PostgreSQL at 127.0.0.1:5432, database ``test`` (a
fresh schema per run). ``--watch-s`` prints job statuses, lease owners and CPU to stderr
while the scenario runs.

    .venv/bin/python bench/cluster_scale.py [--records 6000] [--recipes 6]
        [--skip-scenario | --scenario-only] [--watch-s 5] [--logs DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

from _emulator import EmulatorProcess, emulator_process
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cluster_scenario import (
    Replicas,
    insert_contacts,
    job_statuses,
    leases_now,
    recipe,
    sink,
    until_processed,
)

POSTGRES = f"postgresql+asyncpg://{os.environ.get('PGUSER', 'postgres')}@127.0.0.1:5432/test"
TICKS_S = os.sysconf("SC_CLK_TCK")


def log_recipe(index: int, concurrency: int) -> dict[str, Any]:
    """Like the scenario's recipe, with two ``log`` steps (debug: not printed)."""
    spec = recipe(index, concurrency, poll_interval_s=1.0)
    step = {"type": "log", "level": "debug", "message": "{{ trigger.record.contactid }}"}
    spec["actions"] = [{**step, "id": "first"}, {**step, "id": "second"}]
    return spec


@asynccontextmanager
async def schema_url() -> AsyncIterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(POSTGRES)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES}?schema={schema}"
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (from /proc); NaN once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / TICKS_S


async def run_jobs(emulator: EmulatorProcess, folder: Path, url: str, replicas_n: int,
                   args: argparse.Namespace) -> tuple[float, list[float]]:
    """Jobs/s from the first replica's start until every job succeeded; CPU per replica."""
    recipes = {f"r{i}": log_recipe(i, args.concurrency) for i in range(args.recipes)}
    replicas = await Replicas.prepare(emulator, folder, url, recipes, lease_ttl_s=15,
                                      claim_ttl_s=60)
    await insert_contacts(emulator, 0, args.records, args.recipes, backdated=True)
    started = time.monotonic()
    for n in range(replicas_n):
        await replicas.start(f"replica-{n}")
    try:
        await until_processed_jobs(url, args.records, timeout_s=args.timeout_s)
        elapsed_s = time.monotonic() - started
        cpu = [cpu_s(p.pid) for p in replicas.processes.values()]
    except RuntimeError:
        print(tail(replicas), file=sys.stderr)
        raise
    finally:
        await replicas.stop_all()
    return args.records / elapsed_s, cpu


async def until_processed_jobs(url: str, total: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        statuses = await job_statuses(url)
        if statuses["succeeded"] >= total:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"not done in {timeout_s}s: {dict(await job_statuses(url))}")


def tail(replicas: Replicas) -> str:
    return "\n".join(replicas.log_file(n).read_text()[-1500:] for n in replicas.processes)


async def scaling(tls: Path, args: argparse.Namespace) -> None:
    rates: dict[str, float] = {}
    for replicas_n in (1, 2, 3):
        async with emulator_process(tls) as emulator, schema_url() as url:
            with tempfile.TemporaryDirectory() as folder:
                rate, cpu = await run_jobs(emulator, Path(folder), url, replicas_n, args)
        rates[f"pg{replicas_n}"] = rate
        print(f"(a) {replicas_n} replica(s) on PostgreSQL: {rate:,.0f} jobs/s; CPU s per "
              f"replica: {', '.join(f'{c:.1f}' for c in cpu)}", flush=True)
    async with emulator_process(tls) as emulator:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/state/recipe-runner.db"
            rate, cpu = await run_jobs(emulator, Path(folder), url, 1, args)
    print(f"(b) 1 replica on SQLite: {rate:,.0f} jobs/s (CPU {cpu[0]:.1f} s); "
          f"PostgreSQL/SQLite = {rates['pg1'] / rate:.2f}", flush=True)


async def scenario(tls: Path, recipes_n: int, records: int, concurrency: int,
                   args: argparse.Namespace) -> None:
    """Issue 8's failure scenario at full size (3 replicas, kill one, pause one); the
    replicas' logs go to ``args.logs`` when given (kept), else to a temporary folder."""
    lease_ttl_s, pause_s, batch = 3.0, 5.0, records // 4
    # Each sink must keep every post (one per record, plus repeats) to count losses.
    async with emulator_process(tls, webhook_keep_last=4 * records) as emulator, \
            schema_url() as url:
        with logs_folder(args.logs) as name:
            folder = Path(name)
            specs = {f"r{i}": recipe(i, concurrency, 1.0) for i in range(recipes_n)}
            replicas = await Replicas.prepare(emulator, folder, url, specs,
                                              lease_ttl_s=lease_ttl_s, claim_ttl_s=15)
            ids = await insert_contacts(emulator, 0, 2 * batch, recipes_n, backdated=True)
            started = time.monotonic()
            for n in range(3):
                await replicas.start(f"replica-{n}")
            watcher = asyncio.create_task(watch(url, replicas, emulator, started, args.watch_s))
            try:
                await until(lambda: _sunk(emulator, batch))
                owned = {le.recipe for le in await leases_now(url) if le.owner == "replica-0"}
                replicas.signal("replica-0", signal.SIGKILL)
                killed_at = time.monotonic()
                await until(lambda: _reowned(url, owned), timeout_s=60)
                reowned_s = time.monotonic() - killed_at
                replicas.signal("replica-1", signal.SIGSTOP)
                ids |= await insert_contacts(emulator, 2 * batch, records - 2 * batch,
                                             recipes_n, backdated=False)
                await asyncio.sleep(pause_s)
                replicas.signal("replica-1", signal.SIGCONT)
                await until_processed(emulator, url, len(ids), timeout_s=600)
                elapsed_s = time.monotonic() - started
                cpu = {n: cpu_s(p.pid) for n, p in replicas.processes.items()
                       if p.returncode is None}
                cpu["emulator"] = cpu_s(emulator.pid)
            except (AssertionError, RuntimeError):
                print(tail(replicas), file=sys.stderr)
                raise
            finally:
                watcher.cancel()
                await replicas.stop_all()
                with suppress(asyncio.CancelledError):
                    await watcher
            first, second = await sink(emulator, "first"), await sink(emulator, "second")
    lost = len(ids - set(second))
    repeats = sum(n - 1 for n in first.values()) + sum(n - 1 for n in second.values())
    print(f"(c) {recipes_n} recipes, {len(ids):,} records, 3 replicas, kill + "
          f"{pause_s:g}s pause: {elapsed_s:.1f}s, {lost} lost, {repeats} step(s) repeated "
          f"(bound: {recipes_n * concurrency} in flight), killed recipes re-owned after "
          f"{reowned_s:.1f}s (lease TTL {lease_ttl_s:g}s + poll 1s)", flush=True)
    print(f"    CPU s: {', '.join(f'{n} {c:.1f}' for n, c in cpu.items())}", flush=True)


def logs_folder(path: str | None) -> AbstractContextManager[str]:
    if path is None:
        return tempfile.TemporaryDirectory()
    Path(path).mkdir(parents=True, exist_ok=True)
    return nullcontext(path)


async def watch(url: str, replicas: Replicas, emulator: EmulatorProcess, started: float,
                every_s: float) -> None:
    """Every ``every_s`` (0: never), one stderr line: job statuses, lease owners, CPU."""
    while every_s > 0:
        await asyncio.sleep(every_s)
        try:
            owners = Counter(str(le.owner) for le in await leases_now(url))
            statuses = dict(await job_statuses(url))
            cpu = {n: round(cpu_s(p.pid), 1) for n, p in replicas.processes.items()
                   if p.returncode is None}
            cpu["emulator"] = round(cpu_s(emulator.pid), 1)
        except Exception as exc:  # a progress line is not worth failing the run
            print(f"watch: {exc!r}", file=sys.stderr, flush=True)
            continue
        print(f"[{time.monotonic() - started:5.0f}s] jobs {statuses} leases {dict(owners)} "
              f"CPU s {cpu}", file=sys.stderr, flush=True)


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:g}s")
        await asyncio.sleep(0.1)


async def _sunk(emulator: EmulatorProcess, count: int) -> bool:
    return len(await sink(emulator, "second")) >= count


async def _reowned(url: str, recipes: set[str]) -> bool:
    return all(le.owner not in (None, "replica-0") for le in await leases_now(url)
               if le.recipe in recipes)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tls:
        if not args.scenario_only:
            await scaling(Path(tls), args)
        if not args.skip_scenario:
            await scenario(Path(tls), 50, 20_000, 4, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=6000)
    parser.add_argument("--recipes", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=16)
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--skip-scenario", action="store_true")
    only.add_argument("--scenario-only", action="store_true")
    parser.add_argument("--timeout-s", type=float, default=600)
    parser.add_argument("--watch-s", type=float, default=0,
                        help="print the scenario's progress to stderr this often")
    parser.add_argument("--logs", help="keep the scenario's replica logs in this folder")
    asyncio.run(main(parser.parse_args()))
