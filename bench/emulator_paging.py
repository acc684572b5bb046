"""Benchmark: how fast the emulator serves Dataverse pages, against json.loads of the same bytes.

Starts the emulator in its own process (so its CPU is not ours), inserts 200,000 contacts
through the control route, pages them with a plain aiohttp loop (``Prefer:
odata.maxpagesize=5000``, following ``@odata.nextLink``) and prints rows/s, then rows/s of
merely ``json.loads`` on the same page bytes in-process, and their ratio. Not a test.

    .venv/bin/python bench/emulator_paging.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp
from _emulator import emulator_process, insert_rows


def contact_rows(start: int, count: int) -> list[dict[str, object]]:
    return [{"firstname": f"First{i}", "lastname": f"Last{i}", "emailaddress1": f"c{i}@bench.test",
             "jobtitle": "Engineer", "telephone1": "+1 555 0100", "creditlimit": 1000.5 + i,
             "gendercode": 1 + i % 2, "donotemail": i % 2 == 0, "statecode": 0,
             "statuscode": 1, "modifiedon": "2024-01-01T00:00:00Z"}
            for i in range(start, start + count)]


async def insert_contacts(http: aiohttp.ClientSession, base_url: str, total: int) -> float:
    started = time.perf_counter()
    await insert_rows(http, base_url, "contact", 0, total, contact_rows)
    return time.perf_counter() - started


async def page_all(http: aiohttp.ClientSession, base_url: str,
                   token: str) -> tuple[int, float, list[bytes]]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
               "OData-MaxVersion": "4.0", "OData-Version": "4.0",
               "Prefer": "odata.maxpagesize=5000"}
    url: str | None = f"{base_url}/api/data/v9.2/contacts"
    pages: list[bytes] = []
    rows = 0
    started = time.perf_counter()
    while url:
        async with http.get(url, headers=headers) as resp:
            resp.raise_for_status()
            raw = await resp.read()
        page = json.loads(raw)
        rows += len(page["value"])
        pages.append(raw)
        url = page.get("@odata.nextLink")
    return rows, time.perf_counter() - started, pages


def loads_only(pages: list[bytes]) -> float:
    started = time.perf_counter()
    for raw in pages:
        json.loads(raw)
    return time.perf_counter() - started


async def run(total: int) -> None:
    async with emulator_process() as emu, emu.client_session() as http:
        insert_s = await insert_contacts(http, emu.base_url, total)
        rows, paging_s, pages = await page_all(http, emu.base_url, emu.token)
    parse_s = loads_only(pages)
    page_bytes = sum(len(p) for p in pages)
    print(f"inserted {total:,} contacts via the control route in {insert_s:.2f} s "
          f"({total / insert_s:,.0f} rows/s)")
    print(f"paged {rows:,} rows in {len(pages)} pages ({page_bytes / 1e6:.1f} MB) "
          f"in {paging_s:.2f} s: {rows / paging_s:,.0f} rows/s")
    print(f"json.loads alone on the same bytes: {parse_s:.2f} s: {rows / parse_s:,.0f} rows/s")
    print(f"ratio (paging time / json.loads time): {paging_s / parse_s:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    asyncio.run(run(args.rows))


if __name__ == "__main__":
    main()
