"""Benchmark: the engine against the emulator, SQLite state store, in one run.

Prints (a) a plain aiohttp loop paging N contacts (rows/s); (b) durable ingest — the
``dynamics365.new_or_updated_record`` trigger's pages committed as jobs together with the
cursor (outbox), rows/s — and b/a (aim ≥ 0.5); (c) jobs completed per second for a two-step
recipe with ``log`` actions (aim ≥ 2,200/s, ten times n8n's published ~220 executions/s on
2 vCPU); (d) peak memory (max RSS of this process). (a) and (b) run in turns, each (b) into
a fresh store (``--repeat``, default 3): the best of each and b/a of every turn are printed,
since the machine may be shared. The emulator runs in its own process. Not a test.

    .venv/bin/python bench/engine_throughput.py [--rows 100000] [--concurrency 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog
from _emulator import EmulatorProcess, emulator_process
from trigger_throughput import insert, plain_loop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.catalog import default_registry
from runner.config import parse_yaml
from runner.engine.job import JobServices
from runner.engine.poller import RecipePoller
from runner.engine.worker import RecipeWorker, WorkerSettings
from runner.engine.writer import GroupWriter
from runner.gc_tuning import tune_for_batches
from runner.recipes.validate import RecipeBuilder
from runner.store import Store

RECIPE = """
name: bench
concurrency: {concurrency}
max_pending: 10000000
trigger:
  type: dynamics365.new_or_updated_record
  connection: crm
  table: contacts
  since: beginning
  page_size: 5000
actions:
  - id: first
    type: log
    level: debug
    message: "seen {{{{ trigger.record.fullname }}}}"
  - type: log
    level: debug
    message: "after {{{{ steps.first.message }}}}"
"""


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def ingest(recipe: Any, registry: Any, client: Any, db: Path
                 ) -> tuple[float, int, Store, RecipeWorker, JobServices]:
    """(b) one poll of every page into a fresh SQLite store: rows/s, and what (c) needs."""
    store = await Store.open(f"sqlite:///{db}")
    log = structlog.get_logger("bench")
    services = JobServices(registry=registry, writer=GroupWriter(store),
                           connection=lambda name: client, log=log)
    worker = RecipeWorker(recipe, store, services, WorkerSettings("bench", claim_ttl_s=600))
    poller = RecipePoller(recipe, registry.triggers[recipe.trigger.type], store, client, log,
                          worker.wake)
    started = time.perf_counter()
    summary = await poller.poll_once()
    return summary.new_jobs / (time.perf_counter() - started), summary.new_jobs, store, \
        worker, services


async def measure(emu: EmulatorProcess, rows: int, concurrency: int, repeat: int,
                  state_dir: Path) -> None:
    registry = default_registry()
    text = RECIPE.format(concurrency=concurrency)
    recipe = RecipeBuilder(parse_yaml(text, "bench.yaml"), registry, {"crm": "dynamics365"}).build()
    assert recipe is not None
    plain_rates: list[float] = []
    ingest_rates: list[float] = []
    async with emu.client_session() as http, emu.dataverse() as client:
        await insert(http, emu.base_url, 0, rows, int(time.time()) - rows // 10 - 3600, 10)
        await plain_loop(http, emu.base_url, emu.token)  # warm up
        for attempt in range(repeat):  # (a) and (b) side by side, in turns
            started = time.perf_counter()
            paged = await plain_loop(http, emu.base_url, emu.token)
            plain_rates.append(paged / (time.perf_counter() - started))
            rate, stored, store, worker, services = await ingest(
                recipe, registry, client, state_dir / f"bench-{attempt}.db")
            ingest_rates.append(rate)
            assert stored == rows == paged, (stored, rows, paged)
            if attempt < repeat - 1:
                await services.writer.close()
                await store.close()
        started = time.perf_counter()
        ran = await worker.run_until_idle()
        job_rate = ran / (time.perf_counter() - started)
        await services.writer.close()
        await store.close()
    assert ran == rows, (ran, rows)
    ratios = sorted(b / a for a, b in zip(plain_rates, ingest_rates, strict=True))
    print(f"{rows:,} rows, SQLite, concurrency {concurrency}, {repeat} turns of (a) then (b)")
    print(f"(a) plain aiohttp paging loop:      {max(plain_rates):>9,.0f} rows/s (best)")
    print(f"(b) durable ingest (jobs+cursor):   {max(ingest_rates):>9,.0f} rows/s (best)  "
          f"ratio b/a per turn: {' '.join(f'{r:.2f}' for r in ratios)}, "
          f"median {ratios[len(ratios) // 2]:.2f}  (aim >= 0.5)")
    print(f"(c) 2-step jobs completed:          {job_rate:>9,.0f} jobs/s  "
          f"({job_rate / 220:.1f}x n8n's ~220/s; aim >= 2,200)")
    print(f"(d) peak memory (max RSS):          {max_rss_mib():>9,.0f} MiB")


async def run(rows: int, concurrency: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with emulator_process(Path(tmp)) as emu:
            await measure(emu, rows, concurrency, repeat, Path(tmp))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3,
                        help="turns of (a) then (b); the machine may be shared")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    tune_for_batches()  # as `recipe-runner run` does at start
    asyncio.run(run(args.rows, args.concurrency, args.repeat))


if __name__ == "__main__":
    main()
