"""Injected faults and latency, seen by a real aiohttp client over loopback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from emulator import RunningEmulator
from tests.probe_app import PROBES, TOKEN_PROBE, ProbeServer, probe_server

JSON_PROBE = f"{PROBES}/json"


@pytest.fixture
async def emu() -> AsyncIterator[ProbeServer]:
    async with probe_server() as server:
        yield server


async def add_fault(emu: ProbeServer, **rule: object) -> dict[str, object]:
    result = await emu.control("POST", "/_emulator/faults", rule)
    assert isinstance(result, dict)
    return result


async def test_status_429_fault_sends_retry_after_and_dataverse_throttling_body(
    emu: ProbeServer,
) -> None:
    await add_fault(emu, path="/api/data/*/test_probes/json", kind="status", status=429,
                    retry_after_s=7, count=1)
    async with emu.http.get(emu.url(JSON_PROBE)) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "7"
        assert resp.headers["Content-Type"].startswith("application/json")
        error = (await resp.json())["error"]
        assert error["code"] == "0x80072322"
        assert error["message"].startswith("Number of requests exceeded the limit of 6000")
    async with emu.http.get(emu.url(JSON_PROBE)) as resp:
        assert resp.status == 200
    assert emu.probes.handled == 1


async def test_status_503_fault_answers_json_without_running_the_handler(
    emu: ProbeServer,
) -> None:
    await add_fault(emu, path=JSON_PROBE, kind="status", status=503, count=1)
    async with emu.http.post(emu.url(JSON_PROBE), json={"name": "x"}) as resp:
        assert resp.status == 503
        assert "Retry-After" not in resp.headers
        assert await resp.json() == {"error": {"code": "", "message": "Service Unavailable"}}
    assert emu.probes.handled == 0


async def test_status_fault_body_and_headers_can_be_replaced(emu: ProbeServer) -> None:
    await add_fault(emu, path=JSON_PROBE, kind="status", status=500, count=1,
                    body={"oops": True}, headers={"x-ms-service-request-id": "abc"})
    async with emu.http.get(emu.url(JSON_PROBE)) as resp:
        assert resp.status == 500
        assert resp.headers["x-ms-service-request-id"] == "abc"
        assert await resp.json() == {"oops": True}


async def test_fault_applies_only_to_its_method_and_path(emu: ProbeServer) -> None:
    await add_fault(emu, path="/api/data/*/test_probes/json*", method="post", kind="status",
                    status=500)
    async with emu.http.get(emu.url(JSON_PROBE)) as resp:
        assert resp.status == 200
    async with emu.http.get(emu.url(f"{PROBES}/slow?ms=1")) as resp:
        assert resp.status == 200
    async with emu.http.post(emu.url(JSON_PROBE), json={}) as resp:
        assert resp.status == 500


async def test_path_regex_rule_faults_identity_paths_too(emu: ProbeServer) -> None:
    await add_fault(emu, path_regex=r"/oauth2/v2\.0/token$", kind="status", status=503)
    async with emu.http.post(emu.url(TOKEN_PROBE), data={"grant_type": "x"}) as resp:
        assert resp.status == 503
    async with emu.http.get(emu.url(JSON_PROBE)) as resp:
        assert resp.status == 200


async def test_delay_fault_waits_then_handles(emu: ProbeServer) -> None:
    await add_fault(emu, path=JSON_PROBE, kind="delay", delay_s=0.3, count=1)
    started = time.perf_counter()
    async with emu.http.get(emu.url(JSON_PROBE)) as resp:
        assert resp.status == 200
        assert len((await resp.json())["value"]) == 20
    assert time.perf_counter() - started >= 0.3
    assert emu.probes.handled == 1


async def test_reset_fault_aborts_the_connection_before_handling(emu: ProbeServer) -> None:
    await add_fault(emu, path=JSON_PROBE, method="POST", kind="reset")  # until cleared
    with pytest.raises(aiohttp.ClientConnectionError):
        async with emu.http.post(emu.url(JSON_PROBE), json={}) as resp:
            await resp.read()
    assert emu.probes.handled == 0
    await emu.control("DELETE", "/_emulator/faults")
    async with emu.http.post(emu.url(JSON_PROBE), json={}) as resp:
        assert resp.status == 200


async def test_truncated_fault_handles_then_sends_a_short_body(emu: ProbeServer) -> None:
    await add_fault(emu, path=JSON_PROBE, method="POST", kind="truncated", count=1)
    async with emu.http.post(emu.url(JSON_PROBE), json={}) as resp:
        assert resp.status == 200
        assert resp.headers["x-probe"] == "json"
        declared = int(resp.headers["Content-Length"])
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    assert declared > 100
    assert emu.probes.handled == 1  # the work was done; only the answer was lost


async def test_non_json_fault_answers_an_html_page(emu: ProbeServer) -> None:
    await add_fault(emu, path=JSON_PROBE, kind="non_json", count=1)
    async with emu.http.get(emu.url(JSON_PROBE)) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert "Bad Gateway" in await resp.text()
        with pytest.raises(aiohttp.ContentTypeError):
            await resp.json()
    assert emu.probes.handled == 0


async def test_first_matching_rule_with_remaining_count_applies(emu: ProbeServer) -> None:
    await add_fault(emu, path=JSON_PROBE, kind="status", status=500, count=1)
    await add_fault(emu, path=JSON_PROBE, kind="status", status=503, count=2)
    statuses = []
    for _ in range(4):
        async with emu.http.get(emu.url(JSON_PROBE)) as resp:
            statuses.append(resp.status)
    assert statuses == [500, 503, 503, 200]


async def test_rules_are_listed_with_remaining_counts_and_cleared(emu: ProbeServer) -> None:
    first = await add_fault(emu, path=JSON_PROBE, kind="status", status=500, count=2)
    second = await add_fault(emu, path="/never/*", kind="reset")
    async with emu.http.get(emu.url(JSON_PROBE)) as resp:
        assert resp.status == 500
    listed = (await emu.control("GET", "/_emulator/faults"))["rules"]
    assert [(r["id"], r["kind"], r["remaining"], r["applied"]) for r in listed] == [
        (first["id"], "status", 1, 1), (second["id"], "reset", None, 0)]
    await emu.control("DELETE", f"/_emulator/faults/{first['id']}")
    assert [r["id"] for r in (await emu.control("GET", "/_emulator/faults"))["rules"]] == [
        second["id"]]
    await emu.control("DELETE", "/_emulator/faults")
    assert (await emu.control("GET", "/_emulator/faults"))["rules"] == []


async def test_invalid_rule_is_refused_naming_every_problem(emu: ProbeServer) -> None:
    bad = {"path": "/a*", "path_regex": "(", "kind": "status", "status": 200, "count": 0}
    async with emu.http.post(emu.url("/_emulator/faults"), json=bad) as resp:
        assert resp.status == 400
        problems = (await resp.json())["problems"]
    assert any(p.startswith("status.status") for p in problems)
    assert any(p.startswith("status.count") for p in problems)
    async with emu.http.post(emu.url("/_emulator/faults"), json={"kind": "boom"}) as resp:
        assert resp.status == 400
    assert (await emu.control("GET", "/_emulator/faults"))["rules"] == []


async def test_control_routes_are_never_faulted(emu: ProbeServer) -> None:
    await add_fault(emu, path="*", kind="reset")
    await emu.control("POST", "/_emulator/latency", {"ms": 5000})
    started = time.perf_counter()
    health = await emu.control("GET", "/_emulator/health")
    assert health["status"] == "ok"
    assert time.perf_counter() - started < 1
    listed = (await emu.control("GET", "/_emulator/faults"))["rules"]
    assert listed[0]["applied"] == 0


async def test_latency_delays_matching_requests_only(emu: ProbeServer) -> None:
    rules = await emu.control("POST", "/_emulator/latency",
                              {"ms": 250, "path": "/api/data/*/test_probes/json"})
    assert rules == {"rules": [{"ms": 250, "path": "/api/data/*/test_probes/json"}]}
    started = time.perf_counter()
    async with emu.http.get(emu.url(JSON_PROBE)) as resp:
        assert resp.status == 200
    assert time.perf_counter() - started >= 0.25
    started = time.perf_counter()
    async with emu.http.get(emu.url(f"{PROBES}/slow?ms=0")) as resp:
        assert resp.status == 200
    assert time.perf_counter() - started < 0.25


async def test_latency_rule_is_replaced_and_removed_by_zero_ms(emu: ProbeServer) -> None:
    await emu.control("POST", "/_emulator/latency", {"ms": 5000, "path": JSON_PROBE})
    await emu.control("POST", "/_emulator/latency", {"ms": 1, "path": JSON_PROBE})
    assert (await emu.control("GET", "/_emulator/latency"))["rules"] == [
        {"ms": 1, "path": JSON_PROBE}]
    await emu.control("POST", "/_emulator/latency", {"ms": 0, "path": JSON_PROBE})
    assert (await emu.control("GET", "/_emulator/latency"))["rules"] == []
    await emu.control("POST", "/_emulator/latency", {"ms": 5000})
    await emu.control("DELETE", "/_emulator/latency")
    started = time.perf_counter()
    async with emu.http.get(emu.url(JSON_PROBE)) as resp:
        assert resp.status == 200
    assert time.perf_counter() - started < 1


async def test_real_emulator_over_https_serves_faults(emulator: RunningEmulator) -> None:
    async with emulator.client_session() as http:
        url = f"{emulator.base_url}/_emulator/faults"
        rule = {"path": "/api/data/*", "kind": "status", "status": 503, "count": 1}
        async with http.post(url, json=rule) as resp:
            assert resp.status == 201
        async with http.get(f"{emulator.base_url}/api/data/v9.2/accounts") as resp:
            assert resp.status == 503
        async with http.get(url) as resp:
            assert (await resp.json())["rules"][0]["remaining"] == 0
