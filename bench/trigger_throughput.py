"""Benchmark: the ``dynamics365.new_or_updated_record`` trigger against a plain aiohttp loop.

Starts the emulator in its own process (``bench/_emulator.py``), inserts contacts
whose ``modifiedon`` is spread at ``--rows-per-second`` rows per second, then for 10,000 and
100,000 rows prints (a) a plain aiohttp loop paging the trigger's exact query (rows/s), (b) the
trigger's delivery rate (events yielded per second, consuming the PollPages directly, from
``since: beginning``), (c) the ratio b/a, and the peak Python memory (tracemalloc, in a separate
run so tracing does not slow the timed ones). Not a test.

    .venv/bin/python bench/trigger_throughput.py [--rows 100000] [--rows-per-second 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from _emulator import EmulatorProcess, emulator_process, insert_rows

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.base import StepContext
from connectors.dynamics365 import DataverseClient
from connectors.dynamics365.client import ODATA_HEADERS, encode_query
from connectors.dynamics365.triggers import (
    NEW_OR_UPDATED,
    NEW_OR_UPDATED_RECORD_SPEC,
    RecordTriggerParams,
    query_options,
)

PAGE_SIZE = 5000
PARAMS = RecordTriggerParams(table="contacts", since="beginning", page_size=PAGE_SIZE,
                             primary_key="contactid")


def rows(start: int, count: int, first_s: int, per_s: int) -> list[dict[str, Any]]:
    def stamp(i: int) -> str:
        return datetime.fromtimestamp(first_s + i // per_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return [{"firstname": f"First{i}", "lastname": f"Last{i}", "emailaddress1": f"c{i}@b.test",
             "jobtitle": "Engineer", "telephone1": "+1 555 0100", "creditlimit": 1000.5 + i,
             "gendercode": 1 + i % 2, "donotemail": i % 2 == 0, "statecode": 0,
             "statuscode": 1, "createdon": stamp(i), "modifiedon": stamp(i)}
            for i in range(start, start + count)]


async def insert(http: aiohttp.ClientSession, base_url: str, start: int, count: int,
                 first_s: int, per_s: int) -> None:
    await insert_rows(http, base_url, "contact", start, count,
                      lambda first, n: rows(first, n, first_s, per_s))


async def plain_loop(http: aiohttp.ClientSession, base_url: str, token: str) -> int:
    headers = {**ODATA_HEADERS, "Authorization": f"Bearer {token}",
               "Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
    options = query_options(PARAMS, NEW_OR_UPDATED, "contactid", None)
    url: str | None = f"{base_url}/api/data/v9.2/contacts?{encode_query(options)}"
    count = 0
    while url:
        async with http.get(url, headers=headers) as resp:
            resp.raise_for_status()
            page = json.loads(await resp.read())
        count += len(page["value"])
        url = page.get("@odata.nextLink")
    return count


async def trigger(client: DataverseClient) -> int:
    count = 0
    ctx = StepContext(recipe="bench", connection=client)
    async for page in NEW_OR_UPDATED_RECORD_SPEC.poll(PARAMS, None, ctx):
        count += len(page.events)
    return count


async def timed(run: Callable[[], Awaitable[int]], repeat: int = 3) -> tuple[int, float]:
    """Rows and the best of ``repeat`` wall times (the machine may be shared)."""
    best_s, count = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = await run()
        best_s = min(best_s, time.perf_counter() - started)
    return count, best_s


async def peak_mib(run: Callable[[], Awaitable[int]]) -> float:
    tracemalloc.start()
    try:
        await run()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


async def measure(http: aiohttp.ClientSession, client: DataverseClient, emu: EmulatorProcess,
                  total: int) -> None:
    def plain() -> Awaitable[int]:
        return plain_loop(http, emu.base_url, emu.token)

    def trig() -> Awaitable[int]:
        return trigger(client)

    await plain()  # warm both paths (connections, SQLite page cache)
    await trig()
    plain_rows, plain_s = await timed(plain)
    trig_rows, trig_s = await timed(trig)
    assert plain_rows == trig_rows == total, (plain_rows, trig_rows, total)
    a, b = plain_rows / plain_s, trig_rows / trig_s
    print(f"{total:>7,} rows | (a) plain aiohttp loop {a:>9,.0f} rows/s | (b) trigger "
          f"{b:>9,.0f} rows/s | (c) b/a {b / a:.2f} | peak memory: plain "
          f"{await peak_mib(plain):.1f} MiB, trigger {await peak_mib(trig):.1f} MiB")


async def run(total: int, per_s: int) -> None:
    async with emulator_process() as emu, emu.client_session() as http, \
            emu.dataverse() as client:
        first_s = int(time.time()) - total // per_s - 3600
        done = 0
        for size in sorted({min(10_000, total), total}):
            await insert(http, emu.base_url, done, size - done, first_s, per_s)
            done = size
            await measure(http, client, emu, size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rows-per-second", type=int, default=10,
                        help="rows sharing each modifiedon second")
    args = parser.parse_args()
    print(f"lookback {PARAMS.lookback:.0f} s, {args.rows_per_second} rows per modifiedon "
          f"second, pages of {PAGE_SIZE}")
    asyncio.run(run(args.rows, args.rows_per_second))


if __name__ == "__main__":
    main()
