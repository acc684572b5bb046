"""Benchmark: the engine against the emulator, SQLite state store, in one run.

Prints (a) a plain aiohttp loop paging N contacts (rows/s); (b) durable ingest — the
``dynamics365.new_or_updated_record`` trigger's pages committed as jobs together with the
cursor (outbox), rows/s — and b/a (aim ≥ 0.5); (c) jobs completed per second for a two-step
recipe with ``log`` actions (aim ≥ 2,200/s, ten times n8n's published ~220 executions/s on
2 vCPU); (d) peak memory (max RSS of this process). The emulator runs in its own process.
Not a test.

    .venv/bin/python bench/engine_throughput.py [--rows 100000] [--concurrency 64]
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


async def measure(emu: EmulatorProcess, rows: int, concurrency: int, state_dir: Path) -> None:
    registry = default_registry()
    text = RECIPE.format(concurrency=concurrency)
    recipe = RecipeBuilder(parse_yaml(text, "bench.yaml"), registry, {"crm": "dynamics365"}).build()
    assert recipe is not None
    async with emu.client_session() as http, emu.dataverse() as client:
        await insert(http, emu.base_url, 0, rows, int(time.time()) - rows // 10 - 3600, 10)
        await plain_loop(http, emu.base_url, emu.token)  # warm up
        started = time.perf_counter()
        paged = await plain_loop(http, emu.base_url, emu.token)
        plain_rate = paged / (time.perf_counter() - started)

        store = await Store.open(f"sqlite:///{state_dir / 'bench.db'}")
        log = structlog.get_logger("bench")
        services = JobServices(registry=registry, writer=GroupWriter(store),
                               connection=lambda name: client, log=log)
        worker = RecipeWorker(recipe, store, services, WorkerSettings("bench", claim_ttl_s=600))
        poller = RecipePoller(recipe, registry.triggers[recipe.trigger.type], store, client, log,
                              worker.wake)
        started = time.perf_counter()
        summary = await poller.poll_once()
        ingest_rate = summary.new_jobs / (time.perf_counter() - started)
        started = time.perf_counter()
        ran = await worker.run_until_idle()
        job_rate = ran / (time.perf_counter() - started)
        await services.writer.close()
        await store.close()
    assert summary.new_jobs == rows == ran == paged, (summary, rows, ran, paged)
    print(f"{rows:,} rows, SQLite, concurrency {concurrency}")
    print(f"(a) plain aiohttp paging loop:      {plain_rate:>9,.0f} rows/s")
    print(f"(b) durable ingest (jobs+cursor):   {ingest_rate:>9,.0f} rows/s  "
          f"ratio b/a = {ingest_rate / plain_rate:.2f}  (aim >= 0.5)")
    print(f"(c) 2-step jobs completed:          {job_rate:>9,.0f} jobs/s  "
          f"({job_rate / 220:.1f}x n8n's ~220/s; aim >= 2,200)")
    print(f"(d) peak memory (max RSS):          {max_rss_mib():>9,.0f} MiB")


async def run(rows: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with emulator_process(Path(tmp)) as emu:
            await measure(emu, rows, concurrency, Path(tmp))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    tune_for_batches()  # as `recipe-runner run` does at start
    asyncio.run(run(args.rows, args.concurrency))


if __name__ == "__main__":
    main()
