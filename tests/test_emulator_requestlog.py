"""The request log: what was asked, how it was answered, by whom; never secrets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime

import aiohttp
import pytest

from emulator import EmulatorConfig
from emulator.requestlog import RequestLog, RequestRecord
from emulator.traffic import RequestMatcher
from tests.probe_app import PROBES, TOKEN_PROBE, ProbeServer, probe_server

JSON_PROBE = f"{PROBES}/json"


@pytest.fixture
async def emu() -> AsyncIterator[ProbeServer]:
    async with probe_server() as server:
        yield server


async def logged(emu: ProbeServer, query: str = "") -> list[dict[str, object]]:
    return (await emu.control("GET", f"/_emulator/requests{query}"))["requests"]


async def test_log_records_method_path_query_status_user_and_time(emu: ProbeServer) -> None:
    await emu.control("POST", "/_emulator/clock/advance", {"seconds": 86400})
    async with emu.http.get(emu.url(f"{JSON_PROBE}?$select=name&$top=5"),
                            headers=emu.bearer("user-oid-1")) as resp:
        assert resp.status == 200
    async with emu.http.get(emu.url(f"{PROBES}/missing")) as resp:
        assert resp.status == 404
    first, second = await logged(emu)
    assert {k: first[k] for k in ("method", "path", "query", "status", "user", "fault")} == {
        "method": "GET", "path": JSON_PROBE, "query": "$select=name&$top=5", "status": 200,
        "user": "user-oid-1", "fault": None}
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    logged_at = datetime.fromisoformat(str(first["time"]))
    assert (logged_at - datetime.now(logged_at.tzinfo)).total_seconds() > 86000  # emulator clock
    assert (second["path"], second["status"], second["user"]) == (f"{PROBES}/missing", 404, None)


async def test_log_filters_by_path_glob_and_method_and_keeps_the_newest(
    emu: ProbeServer,
) -> None:
    for n in range(5):
        async with emu.http.get(emu.url(f"{JSON_PROBE}?n={n}")) as resp:
            assert resp.status == 200
    async with emu.http.post(emu.url(TOKEN_PROBE), data={"grant_type": "x"}) as resp:
        assert resp.status == 200
    newest = await logged(emu, "?path=/api/data/*&limit=2")
    assert [r["query"] for r in newest] == ["n=3", "n=4"]
    token_calls = await logged(emu, "?path=*/oauth2/v2.0/token&method=post")
    assert [r["path"] for r in token_calls] == [TOKEN_PROBE]
    assert len(await logged(emu)) == 6


async def test_log_never_records_control_requests(emu: ProbeServer) -> None:
    await emu.control("GET", "/_emulator/health")
    await emu.control("GET", "/_emulator/faults")
    async with emu.http.get(emu.url(JSON_PROBE)) as resp:
        assert resp.status == 200
    assert [r["path"] for r in await logged(emu)] == [JSON_PROBE]


async def test_log_keeps_no_token_and_masks_secret_query_values(emu: ProbeServer) -> None:
    headers = emu.bearer("oid-x")
    token = headers["Authorization"].split()[1]
    url = emu.url(f"{TOKEN_PROBE}?client_id=app&client_secret=s3cr3t-value&password=hunter2")
    async with emu.http.post(url, headers=headers, data={"refresh_token": "rt-body"}) as resp:
        assert resp.status == 200
    text = json.dumps(await logged(emu))
    for secret in (token, "s3cr3t-value", "hunter2", "rt-body"):
        assert secret not in text
    (entry,) = await logged(emu)
    assert entry["query"] == "client_id=app&client_secret=***&password=***"
    assert entry["user"] == "oid-x"


async def test_log_shows_faults_and_throttling_as_the_client_saw_them(emu: ProbeServer) -> None:
    await emu.control("POST", "/_emulator/faults", {"path": JSON_PROBE, "method": "POST",
                                                   "kind": "reset", "count": 1})
    with pytest.raises(aiohttp.ClientConnectionError):
        async with emu.http.post(emu.url(JSON_PROBE), json={}) as resp:
            await resp.read()
    await emu.control("PUT", "/_emulator/protection", {"requests": 1})
    caller = emu.bearer("busy-user")
    for _ in range(2):
        async with emu.http.get(emu.url(JSON_PROBE), headers=caller) as resp:
            await resp.read()
    entries = await logged(emu)
    assert [(r["status"], r["fault"], r["user"]) for r in entries] == [
        (None, "reset", None), (200, None, "busy-user"), (429, None, "busy-user")]


async def test_delete_empties_the_log(emu: ProbeServer) -> None:
    async with emu.http.get(emu.url(JSON_PROBE)) as resp:
        assert resp.status == 200
    await emu.control("DELETE", "/_emulator/requests")
    assert await logged(emu) == []


async def test_bad_limit_is_refused(emu: ProbeServer) -> None:
    for limit in ("0", "-3", "many"):
        async with emu.http.get(emu.url(f"/_emulator/requests?limit={limit}")) as resp:
            assert resp.status == 400


async def test_log_requests_prints_one_line_per_request(capsys: pytest.CaptureFixture[str]) -> None:
    async with probe_server(EmulatorConfig(port=0, tls=False, log_requests=True)) as emu:
        async with emu.http.get(emu.url(f"{JSON_PROBE}?$top=1"), headers=emu.bearer()) as resp:
            assert resp.status == 200
        await emu.control("GET", "/_emulator/health")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    method, path, status, duration = lines[0].split()
    assert (method, path, status) == ("GET", JSON_PROBE, "200")
    assert duration.endswith("ms")


def test_ring_drops_the_oldest_beyond_its_capacity() -> None:
    log = RequestLog(capacity=3)
    for n in range(5):
        log.add(RequestRecord("GET", f"/p/{n}", "", 200, 1.0, None, "t", None))
    assert [r.path for r in log.find(RequestMatcher(), limit=10)] == ["/p/2", "/p/3", "/p/4"]
    assert [r.path for r in log.find(RequestMatcher(glob="/p/[23]"), limit=1)] == ["/p/3"]
