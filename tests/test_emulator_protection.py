"""Service protection: 429s with Dataverse codes and Retry-After, per user, on emulator time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.clock import EmulatorClock
from emulator.protection import ProtectionLimits, ServiceProtection
from tests.probe_app import PROBES, TOKEN_PROBE, ProbeServer, probe_server

JSON_PROBE = f"{PROBES}/json"
BURST = "x-ms-ratelimit-burst-remaining-xrm-requests"
TIME_LEFT = "x-ms-ratelimit-time-remaining-xrm-requests"


@pytest.fixture
async def emu() -> AsyncIterator[ProbeServer]:
    async with probe_server() as server:
        yield server


async def get(emu: ProbeServer, headers: dict[str, str], path: str = JSON_PROBE
              ) -> tuple[int, dict[str, str], dict[str, object]]:
    async with emu.http.get(emu.url(path), headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.json()


async def advance_clock(emu: ProbeServer, seconds: float) -> None:
    await emu.control("POST", "/_emulator/clock/advance", {"seconds": seconds})


async def test_defaults_are_the_documented_dataverse_limits(emu: ProbeServer) -> None:
    limits = await emu.control("GET", "/_emulator/protection")
    assert limits == {"requests": 6000, "window_s": 300, "concurrent": 52,
                      "execution_ms": 1_200_000, "enabled": True}
    status, headers, _ = await get(emu, emu.bearer())
    assert status == 200
    assert headers[BURST] == "5999"
    assert float(headers[TIME_LEFT].replace(",", "")) > 1_199_000


async def test_requests_over_the_count_limit_get_429_with_code_and_retry_after(
    emu: ProbeServer,
) -> None:
    await emu.control("PUT", "/_emulator/protection", {"requests": 3})
    caller = emu.bearer()
    remaining = []
    for _ in range(3):
        status, headers, _ = await get(emu, caller)
        assert status == 200
        remaining.append(headers[BURST])
    assert remaining == ["2", "1", "0"]
    status, headers, body = await get(emu, caller)
    assert status == 429
    assert headers["Retry-After"] == "300"
    assert headers["Content-Type"] == "application/json; odata.metadata=minimal"
    assert body == {"error": {"code": "0x80072322", "message":
                              "Number of requests exceeded the limit of 3 "
                              "over time window of 300 seconds."}}
    assert emu.probes.handled == 3


async def test_window_slides_on_the_emulator_clock(emu: ProbeServer) -> None:
    await emu.control("PUT", "/_emulator/protection", {"requests": 3, "window_s": 300})
    caller = emu.bearer()
    for _ in range(2):
        assert (await get(emu, caller))[0] == 200
    await advance_clock(emu, 200)
    assert (await get(emu, caller))[0] == 200
    status, headers, _ = await get(emu, caller)
    assert (status, headers["Retry-After"]) == (429, "100")  # the first two leave at t=300
    await advance_clock(emu, 101)  # t=301: the two early ones left, the one at t=200 stays
    statuses = [(await get(emu, caller))[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    _, headers, _ = await get(emu, caller)
    assert headers["Retry-After"] == "199"


async def test_concurrency_limit_refuses_at_once_with_its_code(emu: ProbeServer) -> None:
    await emu.control("PUT", "/_emulator/protection", {"concurrent": 3})
    caller = emu.bearer()
    held = [asyncio.create_task(get(emu, caller, f"{PROBES}/gate")) for _ in range(3)]
    try:
        await emu.probes.wait_in_flight(3)
        status, headers, body = await asyncio.wait_for(get(emu, caller), 2)
        other_user_status = (await get(emu, emu.bearer()))[0]
    finally:
        emu.probes.gate.set()
        results = await asyncio.gather(*held)
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert body["error"] == {"code": "0x80072326",
                             "message": "Number of concurrent requests exceeded the limit of 3."}
    assert other_user_status == 200
    assert [result[0] for result in results] == [200, 200, 200]
    assert (await get(emu, caller))[0] == 200


async def test_execution_time_limit_returns_0x80072321(emu: ProbeServer) -> None:
    await emu.control("PUT", "/_emulator/protection", {"execution_ms": 50})
    caller = emu.bearer()
    status, headers, _ = await get(emu, caller, f"{PROBES}/slow?ms=80")
    assert status == 200
    assert headers[TIME_LEFT] == "0.00"
    status, headers, body = await get(emu, caller)
    assert status == 429
    assert headers["Retry-After"] == "300"
    assert body["error"]["code"] == "0x80072321"
    assert body["error"]["message"].startswith(
        "Combined execution time of incoming requests exceeded limit of 50 milliseconds")
    await advance_clock(emu, 301)
    assert (await get(emu, caller))[0] == 200


async def test_each_user_has_its_own_window(emu: ProbeServer) -> None:
    await emu.control("PUT", "/_emulator/protection", {"requests": 1})
    alice, bob = emu.bearer("alice-oid"), emu.bearer("bob-oid")
    assert (await get(emu, alice))[0] == 200
    assert (await get(emu, alice))[0] == 429
    assert (await get(emu, emu.bearer("alice-oid")))[0] == 429  # a new token, same user
    assert (await get(emu, bob))[0] == 200


async def test_requests_without_a_token_are_not_counted(emu: ProbeServer) -> None:
    await emu.control("PUT", "/_emulator/protection", {"requests": 1})
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic eDp5"}):
        for _ in range(2):
            status, response_headers, _ = await get(emu, headers)
            assert status == 200
            assert BURST not in response_headers


async def test_only_dataverse_paths_are_protected(emu: ProbeServer) -> None:
    await emu.control("PUT", "/_emulator/protection", {"requests": 1})
    caller = emu.bearer()
    for _ in range(3):
        async with emu.http.post(emu.url(TOKEN_PROBE), headers=caller, data={}) as resp:
            assert resp.status == 200
        async with emu.http.get(emu.url("/_emulator/health"), headers=caller) as resp:
            assert resp.status == 200
    assert (await get(emu, caller))[0] == 200
    assert (await get(emu, caller))[0] == 429


async def test_disabled_protection_admits_everything(emu: ProbeServer) -> None:
    limits = await emu.control("PUT", "/_emulator/protection", {"requests": 1, "enabled": False})
    assert limits["requests"] == 1
    caller = emu.bearer()
    for _ in range(3):
        status, headers, _ = await get(emu, caller)
        assert status == 200
        assert BURST not in headers


async def test_forgetting_usage_readmits_the_caller(emu: ProbeServer) -> None:
    await emu.control("PUT", "/_emulator/protection", {"requests": 1})
    caller = emu.bearer()
    assert (await get(emu, caller))[0] == 200
    assert (await get(emu, caller))[0] == 429
    await emu.control("DELETE", "/_emulator/protection/usage")
    assert (await get(emu, caller))[0] == 200


async def test_error_responses_also_count_and_carry_the_headers(emu: ProbeServer) -> None:
    await emu.control("PUT", "/_emulator/protection", {"requests": 2})
    caller = emu.bearer()
    status, headers, _ = await get(emu, caller, f"{PROBES}/missing")
    assert (status, headers[BURST]) == (404, "1")


async def test_bad_limits_are_refused(emu: ProbeServer) -> None:
    for body in ({"requests": 0}, {"window_s": -1}, {"concurrency": 5}):
        async with emu.http.put(emu.url("/_emulator/protection"), json=body) as resp:
            assert resp.status == 400
            assert (await resp.json())["problems"]
    assert (await emu.control("GET", "/_emulator/protection"))["requests"] == 6000


@settings(max_examples=60, deadline=None)
@given(gaps_s=st.lists(st.floats(min_value=0, max_value=40), min_size=1, max_size=60))
def test_window_never_admits_more_than_the_limit_and_retry_after_is_enough(
    gaps_s: list[float],
) -> None:
    clock = EmulatorClock()
    protection = ServiceProtection(clock, ProtectionLimits(requests=4, window_s=60))
    admitted: list[float] = []
    for gap_s in gaps_s:
        clock.advance(gap_s)
        refusal = protection.admit("user")
        if refusal is None:
            protection.finish("user", 0.0)
            admitted.append(clock.time())
            assert sum(1 for t in admitted if t > clock.time() - 60) <= 4
            continue
        assert refusal.status == 429
        clock.advance(int(refusal.headers["Retry-After"]))
        assert protection.admit("user") is None  # waiting Retry-After is always enough
        protection.finish("user", 0.0)
        admitted.append(clock.time())
