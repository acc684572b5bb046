"""Benchmark: 10,000 upserts through ``dynamics365.batch`` vs one request per row.

Starts the emulator in its own process (``bench/_emulator.py``) and, with its
service-protection limits off, upserts ``--rows`` accounts by alternate key three ways:
``batch`` with bulk messages (``UpsertMultiple``, chunks of 1,000, 4 in parallel), ``batch``
with ``$batch`` only (1,000 requests per batch), and ``upsert_record`` once per row (16 in
flight). It prints requests sent and rows/s for each.

Then it lowers the limits for a short run (``PUT /_emulator/protection``), sets the client's
limiter to the same rate, upserts the rows again in bulk chunks of ``--protected-chunk`` and
prints the sustained request rate as a share of what the limits allow, the 429s seen and
the failed rows (which must be zero). Not a test.

    .venv/bin/python bench/batch_writes.py [--rows 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from _emulator import EmulatorProcess, emulator_process

from connectors.base import StepContext
from connectors.catalog import default_registry
from connectors.dynamics365 import DataverseClient, RetryPolicy, ThrottleSettings

UNLIMITED = ThrottleSettings(max_concurrent=16, requests_per_s=1e9, burst=1_000_000_000)
PATIENT = RetryPolicy(max_attempts=100, base_delay_s=0.05, max_delay_s=2.0)


def account_rows(count: int, round_no: int) -> list[dict[str, Any]]:
    return [{"accountnumber": f"B-{i:06}", "name": f"Account {i} r{round_no}",
             "industrycode": "Consulting", "revenue": 1000.0 + i} for i in range(count)]


async def action(client: DataverseClient, name: str, **params: Any) -> dict[str, Any]:
    spec = default_registry().actions[f"dynamics365.{name}"]
    return await spec.run(spec.params.model_validate(params),
                          StepContext(recipe="bench", connection=client))


async def control(http: aiohttp.ClientSession, method: str, url: str,
                  body: Any = None) -> Any:
    data = None if body is None else io.BytesIO(json.dumps(body).encode())
    async with http.request(method, url, data=data,
                            headers={"Content-Type": "application/json"}) as resp:
        resp.raise_for_status()
        return await resp.json() if resp.status != 204 else None


async def timed(label: str, rows: int, run: Callable[[], Awaitable[tuple[int, int]]]) -> None:
    started = time.perf_counter()
    requests, failed = await run()
    elapsed_s = time.perf_counter() - started
    print(f"{label:<34} {requests:>7,} requests  {rows / elapsed_s:>9,.0f} rows/s  "
          f"{elapsed_s:6.2f} s  failed rows: {failed}")


async def one_by_one(client: DataverseClient, rows: list[dict[str, Any]]) -> tuple[int, int]:
    gate = asyncio.Semaphore(16)

    async def upsert(row: dict[str, Any]) -> None:
        async with gate:
            await action(client, "upsert_record", table="accounts",
                         key={"accountnumber": row["accountnumber"]}, fields=row)
    await asyncio.gather(*(upsert(r) for r in rows))
    return len(rows), 0


async def via_batch(client: DataverseClient, rows: list[dict[str, Any]], strategy: str,
                    chunk_size: int = 1000, parallel: int = 4) -> tuple[int, int]:
    out = await action(client, "batch", table="accounts", operation="upsert", rows=rows,
                       key_columns=["accountnumber"], strategy=strategy,
                       chunk_size=chunk_size, parallel=parallel)
    return out["requests"], out["failed"]


async def unlimited_runs(emu: EmulatorProcess, http: aiohttp.ClientSession, count: int) -> None:
    await control(http, "PUT", f"{emu.base_url}/_emulator/protection", {"enabled": False})
    async with emu.dataverse(UNLIMITED, PATIENT) as client:
        await action(client, "get_schema", table="accounts")  # warm the metadata cache
        print(f"-- {count:,} upserts by alternate key, service protection off")
        await timed("batch (UpsertMultiple x1000, 4||)", count,
                    lambda: via_batch(client, account_rows(count, 1), "bulk"))
        await timed("batch ($batch x1000)", count,
                    lambda: via_batch(client, account_rows(count, 2), "batch"))
        await timed("upsert_record, one request each", count,
                    lambda: one_by_one(client, account_rows(count, 3)))


LIMITS = {"enabled": True, "requests": 40, "window_s": 5, "concurrent": 52,
          "execution_ms": 60_000}


async def protected_run(emu: EmulatorProcess, http: aiohttp.ClientSession, count: int,
                        chunk: int, settings: ThrottleSettings, label: str) -> None:
    base = emu.base_url
    await control(http, "PUT", f"{base}/_emulator/protection", LIMITS)
    await control(http, "DELETE", f"{base}/_emulator/protection/usage")
    await control(http, "DELETE", f"{base}/_emulator/requests")
    allowed_per_s = LIMITS["requests"] / LIMITS["window_s"]
    async with emu.dataverse(settings, PATIENT) as client:
        started = time.perf_counter()
        requests, failed = await via_batch(client, account_rows(count, 4), "bulk", chunk, 4)
        elapsed_s = time.perf_counter() - started
    log = await control(http, "GET", f"{base}/_emulator/requests?path=/api/data/*&limit=10000")
    throttled = sum(1 for r in log["requests"] if r["status"] == 429)
    sent = len(log["requests"]) - throttled  # admitted requests, metadata included
    # A sliding window of W seconds admits at most N * ceil(T / W) requests in T seconds.
    ceiling = LIMITS["requests"] * max(1, -(-elapsed_s // LIMITS["window_s"]))
    print(f"{label}: {count:,} rows in {requests} UpsertMultiple of {chunk} in "
          f"{elapsed_s:.2f} s = {count / elapsed_s:,.0f} rows/s; 429s: {throttled}; "
          f"failed rows: {failed}")
    print(f"  admitted {sent} requests = {sent / elapsed_s:.2f} req/s: "
          f"{sent / elapsed_s / allowed_per_s:.0%} of the sustained {allowed_per_s:g} req/s, "
          f"{sent / ceiling:.0%} of the {ceiling:g} the window could admit in that time")


async def protected_runs(emu: EmulatorProcess, http: aiohttp.ClientSession, count: int,
                         chunk: int) -> None:
    rate = LIMITS["requests"] / LIMITS["window_s"]
    print(f"-- service protection on, lowered: {LIMITS}")
    paced = ThrottleSettings(max_concurrent=8, requests_per_s=rate, burst=1)
    await protected_run(emu, http, count, chunk, paced,
                        f"client limiter at {rate:g} req/s")
    await protected_run(emu, http, count, chunk, UNLIMITED,
                        "no client limiter (429 + Retry-After only)")


async def run(count: int, chunk: int) -> None:
    async with emulator_process() as emu, emu.client_session() as http:
        await unlimited_runs(emu, http, count)
        await protected_runs(emu, http, count, chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--protected-chunk", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(run(args.rows, args.protected_chunk))


if __name__ == "__main__":
    main()
