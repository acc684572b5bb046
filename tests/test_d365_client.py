"""The Dataverse client against the emulator over HTTPS: paging, throttling, retries, tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connectors.dynamics365 import DataverseClient, RetryPolicy, ThrottleSettings
from connectors.errors import AuthError, FatalError, RetryableError
from emulator import RunningEmulator
from tests.d365_support import (
    EmulatorTokens,
    control,
    d365_client,
    fault,
    insert_rows,
    request_log,
)


def _at(record: dict[str, object]) -> float:
    return datetime.fromisoformat(str(record["time"])).timestamp()


async def _contacts(emulator: RunningEmulator, count: int) -> None:
    async with emulator.client_session() as http:
        await insert_rows(http, emulator, "contact", [
            {"lastname": f"L{i:05}", "modifiedon": "2024-01-01T00:00:00Z"} for i in range(count)])


async def test_paginate_streams_more_than_5000_rows_once_each_in_order(
        emulator: RunningEmulator) -> None:
    await _contacts(emulator, 5_301)
    async with d365_client(emulator) as client:
        pages = [p async for p in client.paginate(
            "contacts", {"$select": "lastname", "$orderby": "lastname asc"})]
    names = [row["lastname"] for page in pages for row in page.rows]
    assert [len(p.rows) for p in pages] == [5000, 301]
    assert names == [f"L{i:05}" for i in range(5_301)]
    assert pages[-1].next_link is None and pages[0].server_time is not None


async def test_paginate_sends_page_size_and_odata_headers(emulator: RunningEmulator) -> None:
    await _contacts(emulator, 25)
    async with d365_client(emulator) as client:
        sizes = [len(p.rows) async for p in client.paginate("contacts", page_size=10)]
    assert sizes == [10, 10, 5]
    assert len(await request_log(emulator, "/api/data/v9.2/contacts")) == 3


async def test_paginate_stopped_early_leaves_no_pending_request(emulator: RunningEmulator) -> None:
    await _contacts(emulator, 30)
    async with d365_client(emulator) as client:
        async for page in client.paginate("contacts", page_size=10):
            assert len(page.rows) == 10
            break


async def _looping_server() -> AsyncIterator[TestServer]:
    async def page(request: web.Request) -> web.Response:
        return web.json_response({"value": [{"id": 1}], "@odata.nextLink": str(request.url)})

    app = web.Application()
    app.router.add_get("/api/data/v9.2/things", page)
    async with TestServer(app) as server:
        yield server


async def test_repeated_next_link_raises_fatal_instead_of_looping() -> None:
    async for server in _looping_server():
        async with DataverseClient.open(f"{server.make_url('/api/data/v9.2/')}",
                                        _StaticTokens()) as client:
            with pytest.raises(FatalError, match="paging loops"):
                _ = [p async for p in client.paginate("things")]


class _StaticTokens:
    async def access_token(self, *, force_refresh: bool = False) -> str:
        return "static"


async def test_429_storm_waits_retry_after_each_time_and_succeeds(
        emulator: RunningEmulator) -> None:
    await _contacts(emulator, 3)
    await fault(emulator, path="/api/data/*/contacts*", count=2, kind="status", status=429,
                retry_after_s=1)
    async with d365_client(emulator) as client:
        body = await client.get_json("contacts")
    assert len(body["value"]) == 3
    log = await request_log(emulator, "/api/data/v9.2/contacts")
    assert [r["status"] for r in log] == [429, 429, 200]
    assert _at(log[1]) - _at(log[0]) >= 0.9 and _at(log[2]) - _at(log[1]) >= 0.9


async def test_one_429_pauses_every_caller_on_the_connection(emulator: RunningEmulator) -> None:
    await _contacts(emulator, 2)
    await fault(emulator, path="/api/data/*/accounts*", count=1, kind="status", status=429,
                retry_after_s=1)
    async with d365_client(emulator) as client:
        first = asyncio.create_task(client.get_json("accounts"))
        for _ in range(400):  # until the 429 has arrived
            if client.throttle.paused_for_s > 0:
                break
            await asyncio.sleep(0.005)
        others = await asyncio.gather(*(client.get_json("contacts") for _ in range(6)))
        await first
    assert all(len(body["value"]) == 2 for body in others)
    log = await request_log(emulator)
    throttled = next(r for r in log if r["status"] == 429)
    later = [r for r in log if r is not throttled]
    assert len(later) == 7  # one retry of accounts and six contacts; nobody hammered
    assert all(_at(r) - _at(throttled) >= 0.9 for r in later)


async def test_after_a_pause_one_probe_goes_first_then_the_rest(
    emulator: RunningEmulator,
) -> None:
    """Three 429s in a row cost three requests one second apart, not one per caller."""
    await _contacts(emulator, 1)
    await fault(emulator, path="/api/data/*/contacts*", count=3, kind="status", status=429,
                retry_after_s=1)
    async with d365_client(emulator) as client:
        first = asyncio.create_task(client.get_json("contacts"))
        for _ in range(400):  # until the first 429 has arrived
            if client.throttle.paused_for_s > 0:
                break
            await asyncio.sleep(0.005)
        bodies = await asyncio.gather(first, *(client.get_json("contacts") for _ in range(5)))
    assert all(len(body["value"]) == 1 for body in bodies)
    log = sorted(await request_log(emulator, "/api/data/*/contacts*"), key=_at)
    assert [r["status"] for r in log] == [429, 429, 429] + [200] * 6
    starts = [_at(r) for r in log]
    assert starts[1] - starts[0] >= 0.9 and starts[2] - starts[1] >= 0.9  # single probes
    assert starts[3] - starts[2] >= 0.9 and min(starts[4:]) >= starts[3]  # then the rest


async def test_long_retry_after_is_handed_to_the_engine(emulator: RunningEmulator) -> None:
    await fault(emulator, path="/api/data/*/contacts*", count=1, kind="status", status=429,
                retry_after_s=900)
    async with d365_client(emulator) as client:
        with pytest.raises(RetryableError) as caught:
            await client.get_json("contacts")
        assert client.throttle.paused_for_s > 800
    assert caught.value.retry_after_s == 900 and caught.value.status == 429


async def test_5xx_resets_and_truncated_bodies_are_retried(emulator: RunningEmulator) -> None:
    await _contacts(emulator, 4)
    path = "/api/data/*/contacts*"
    await fault(emulator, path=path, count=1, kind="status", status=503)
    await fault(emulator, path=path, count=1, kind="status", status=502)
    await fault(emulator, path=path, count=2, kind="reset")
    await fault(emulator, path=path, count=1, kind="truncated")
    await fault(emulator, path=path, count=1, kind="non_json")
    async with d365_client(emulator) as client:
        body = await client.get_json("contacts")
    assert len(body["value"]) == 4
    faults = [r["fault"] for r in await request_log(emulator, "/api/data/v9.2/contacts")]
    assert faults[-1] is None
    assert {"status", "reset", "truncated", "non_json"} <= set(faults)


async def test_retries_are_bounded(emulator: RunningEmulator) -> None:
    await fault(emulator, path="/api/data/*/contacts*", kind="status", status=503)
    retry = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.02)
    async with d365_client(emulator, retry=retry) as client:
        with pytest.raises(RetryableError) as caught:
            await client.get_json("contacts")
    assert caught.value.status == 503
    assert len(await request_log(emulator, "/api/data/v9.2/contacts")) == 3


async def test_expired_token_mid_paging_is_renewed_once_and_paging_continues(
        emulator: RunningEmulator) -> None:
    await _contacts(emulator, 50)
    tokens = EmulatorTokens(emulator, lifetime_s=60)
    rows = 0
    async with d365_client(emulator, tokens) as client:
        async for page in client.paginate("contacts", page_size=10):
            rows += len(page.rows)
            if rows == 10:
                emulator.state.clock.advance(120)  # the cached token is now expired
    assert rows == 50 and tokens.forced == 1
    statuses = [r["status"] for r in await request_log(emulator, "/api/data/v9.2/contacts")]
    assert statuses.count(401) == 1 and statuses.count(200) == 5


async def test_second_401_after_renewal_is_an_auth_error(emulator: RunningEmulator) -> None:
    tokens = EmulatorTokens(emulator, lifetime_s=-10)  # every token is born expired
    async with d365_client(emulator, tokens) as client:
        with pytest.raises(AuthError) as caught:
            await client.get_json("contacts")
    assert caught.value.status == 401 and tokens.forced == 1
    assert len(await request_log(emulator, "/api/data/v9.2/contacts")) == 2


async def test_fatal_errors_keep_dataverse_code_and_message(emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        with pytest.raises(FatalError) as missing:
            await client.get_json("contacts(00000000-0000-4000-8000-000000000001)")
        with pytest.raises(FatalError) as bad_query:
            await client.get_json("contacts", {"$filter": "nosuchcolumn eq 1"})
        with pytest.raises(FatalError) as bad_method:
            await client.request("PATCH", "contacts", json_body={})
    assert missing.value.status == 404 and missing.value.code == "0x80040217"
    assert "Does Not Exist" in missing.value.message
    assert bad_query.value.status == 400 and "nosuchcolumn" in bad_query.value.message
    assert bad_method.value.status == 405


async def test_client_keeps_concurrency_under_the_service_limit(emulator: RunningEmulator) -> None:
    await control(emulator, "PUT", "/_emulator/protection", {"concurrent": 2})
    await fault(emulator, path="/api/data/*/contacts*", count=8, kind="delay", delay_s=0.1)
    settings = ThrottleSettings(max_concurrent=2, requests_per_s=1000, burst=1000)
    async with d365_client(emulator, throttle=settings) as client:
        await asyncio.gather(*(client.get_json("contacts") for _ in range(8)))
    statuses = [r["status"] for r in await request_log(emulator, "/api/data/v9.2/contacts")]
    assert statuses == [200] * 8


async def test_client_paces_requests_to_the_configured_rate(emulator: RunningEmulator) -> None:
    settings = ThrottleSettings(max_concurrent=8, requests_per_s=20, burst=1)
    async with d365_client(emulator, throttle=settings) as client:
        started = time.monotonic()
        await asyncio.gather(*(client.get_json("contacts") for _ in range(6)))
        elapsed_s = time.monotonic() - started
    assert elapsed_s >= 5 / 20 * 0.9
