"""Benchmark: many recipes on one daemon. Not a test.

For each N (default 100, 1,000, 10,000): N ``new_or_updated_record`` recipes spread over 20
tables of the emulator (each with its own local filter, ``poll_interval: 60s``), one
client-credentials connection, SQLite state. The daemon starts; after an idle window with no
changes at all it prints, per N:

* start-up: seconds from spawning ``recipe-runner run`` to ``daemon.ready``;
* idle CPU (% of one core) and RSS of the daemon over the window;
* requests per minute to the Dataverse Web API (the one identity's budget: 6,000 per 5 min);
* the oldest poll age at the end (seconds since the least recently polled recipe polled);
* then one burst (10 rows per table, each matching ten recipes): change → job p99 and how
  long until every job was stored.

Goal on this machine (issue 18): 10,000 recipes ≤ 25 % of a core idle, ≤ 1 GiB, oldest poll
≤ 1.5 × its interval, requests/min ≤ 2 × tables.

    .venv/bin/python bench/recipes_scale.py [--recipes 100 1000 10000] [--idle-s 120]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _emulator import emulator_process

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.daemon_support import prepare, start_daemon

TABLES = 20
CODES = 50  # recipe k watches new_code 'K<k % 50>' of table k % 20


def seed_file(folder: Path) -> Path:
    tables = [{"logical_name": f"new_t{t:02d}", "attributes": [
        {"name": "new_code", "type": "string", "max_length": 20},
        {"name": "new_n", "type": "integer"}]} for t in range(TABLES)]
    path = folder / "seed.yaml"
    path.write_text(yaml.safe_dump({"tables": tables}))
    return path


def recipe(k: int) -> dict[str, Any]:
    return {"name": f"r{k:05d}",
            "trigger": {"type": "dynamics365.new_or_updated_record", "connection": "crm",
                        "table": f"new_t{k % TABLES:02d}s", "select": ["new_code", "new_n"],
                        "filter": f"new_code eq 'K{k % CODES}'", "poll_interval": "60s"},
            "actions": [{"type": "log", "level": "debug",
                         "message": "{{ trigger.record.new_code }}"}]}


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, in clock ticks


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def requests_so_far(emulator: Any) -> int:
    async with emulator.client_session() as http, http.get(
            f"{emulator.base_url}/_emulator/requests?path=/api/data/*&limit=1000000") as resp:
        return len((await resp.json())["requests"])


async def wait_ready(process: asyncio.subprocess.Process) -> asyncio.Task[None]:
    """Once the daemon said ``daemon.ready``: the task that reads the rest of its output."""
    assert process.stdout is not None
    while line := await process.stdout.readline():
        if b'"daemon.ready"' in line:
            return asyncio.create_task(_drain(process))
    raise RuntimeError(f"the daemon exited before it was ready ({await process.wait()})")


async def _drain(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    while await process.stdout.readline():
        pass


def oldest_poll_age_s(db: Path, now_s: float) -> float:
    with sqlite3.connect(db) as conn:
        (oldest,) = conn.execute("SELECT min(last_poll_at) FROM recipe_states").fetchone()
    return now_s - oldest if oldest else float("inf")


def job_times(db: Path) -> list[float]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT created_at FROM jobs")]


async def until_stored(db: Path, expected: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(job_times(db)) < expected:
        if time.monotonic() > deadline:
            return  # reported as fewer jobs than expected
        await asyncio.sleep(0.5)


async def burst(emulator: Any) -> float:
    rows = [{"new_code": f"K{c}", "new_n": c} for c in range(10)]
    started = time.time()
    async with emulator.client_session() as http:
        for t in range(TABLES):
            async with http.post(
                    f"{emulator.base_url}/_emulator/dataverse/tables/new_t{t:02d}/rows",
                    json={"rows": rows}) as resp:
                resp.raise_for_status()
    return started


async def one(n: int, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        async with emulator_process(seed_path=str(seed_file(folder)),
                                    log_requests=True) as emulator:
            options = await prepare(emulator, folder, {f"r{k:05d}": recipe(k) for k in range(n)})
            db = folder / "state" / "recipe-runner.db"
            spawned = time.monotonic()
            daemon = await start_daemon(*options)
            drain: asyncio.Task[None] | None = None
            try:
                drain = await wait_ready(daemon)
                startup_s = time.monotonic() - spawned
                await asyncio.sleep(5)  # the first ticks: catch-up and joins
                cpu0, requests0, t0 = cpu_s(daemon.pid), await requests_so_far(emulator), \
                    time.monotonic()
                await asyncio.sleep(args.idle_s)
                window_s = time.monotonic() - t0
                cpu = (cpu_s(daemon.pid) - cpu0) / window_s * 100
                per_min = (await requests_so_far(emulator) - requests0) / window_s * 60
                rss = rss_mib(daemon.pid)
                age_s = oldest_poll_age_s(db, time.time())
                changed_at = await burst(emulator)
                expected = n // CODES * 10 if n >= CODES else sum(
                    1 for k in range(n) if k % CODES < 10)
                await until_stored(db, expected, timeout_s=180)
                latencies = sorted(t - changed_at for t in job_times(db))
            finally:
                daemon.terminate()
                await daemon.wait()
                if drain is not None:
                    drain.cancel()
    p99 = latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan")
    print(f"{n:>6,} recipes: start-up {startup_s:5.1f}s | idle CPU {cpu:5.1f}% of a core | "
          f"RSS {rss:6.0f} MiB | {per_min:6.1f} requests/min ({TABLES} tables) | oldest poll "
          f"{age_s:5.1f}s (interval 60s) | burst: {len(latencies):,}/{expected:,} jobs, "
          f"change→job p50 {statistics.median(latencies) if latencies else float('nan'):.1f}s"
          f" p99 {p99:.1f}s", flush=True)


async def main(args: argparse.Namespace) -> None:
    print(f"{TABLES} tables, poll_interval 60s, idle window {args.idle_s:g}s", flush=True)
    for n in args.recipes:
        await one(n, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", type=int, nargs="+", default=[100, 1000, 10_000])
    parser.add_argument("--idle-s", type=float, default=120)
    arguments = parser.parse_args()
    print(json.dumps(vars(arguments)))
    asyncio.run(main(arguments))
