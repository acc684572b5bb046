"""Items 9 and 12 of issue 17: slow and idle connections cannot hold the listener, the
status page answers only to its own names with security headers, and a weak status token
does not open the listener to the network."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import time
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from runner import listener
from runner.daemon import Daemon
from runner.listener_guard import ListenerLimits
from runner.ops import listen_problem
from runner.settings import Settings
from tests.hostile.support import TICK, assert_healthy, health_latency_s, hostile_daemon

FAST = functools.partial(ListenerLimits, header_timeout_s=0.5, max_connections=20)


async def _slow_client(port: int, lines: int, every_s: float) -> bytes:
    """Send a request head one header line at a time; what the server answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for index in range(lines):
            await asyncio.sleep(every_s)
            writer.write(f"X-Slow-{index}: x\r\n".encode())
            await writer.drain()
        return await reader.read()
    except ConnectionError:
        return b"reset"
    finally:
        writer.close()


async def test_slow_header_connections_are_cut_at_the_header_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listener, "ListenerLimits", FAST)
    async with hostile_daemon(tmp_path) as running:
        port = running.daemon.listen_port
        assert port is not None
        started = time.monotonic()
        slow = [asyncio.create_task(_slow_client(port, 50, 0.1)) for _ in range(60)]
        await asyncio.sleep(0.2)
        latencies = [await health_latency_s(running.base_url) for _ in range(3)]
        answers = await asyncio.wait_for(asyncio.gather(*slow), 10)
        held_s = time.monotonic() - started
    # 60 clients that would each take 5 s to send their head: all cut within ~0.5 s.
    assert held_s < 3, held_s
    assert all(a.startswith(b"HTTP/1.1 408") or a in (b"", b"reset") for a in answers), answers
    assert max(latencies) < 1.0


async def test_a_partial_request_head_is_answered_408_after_the_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listener, "ListenerLimits", FAST)
    async with hostile_daemon(tmp_path) as running:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.daemon.listen_port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout")
    assert answer.endswith(b'{"error": "request headers not received in time"}')


async def test_idle_connections_beyond_the_cap_cannot_lock_out_health_probes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listener, "ListenerLimits", functools.partial(
        ListenerLimits, header_timeout_s=30, max_connections=10))
    async with hostile_daemon(tmp_path) as running:
        idle = [await asyncio.open_connection("127.0.0.1", running.daemon.listen_port)
                for _ in range(40)]
        await asyncio.sleep(0.1)
        await assert_healthy(running)  # evicts the oldest idle connection to get in
        closed = 0
        for reader, writer in idle:
            with contextlib.suppress(TimeoutError, ConnectionError):
                closed += await asyncio.wait_for(reader.read(), 0.05) == b""
            writer.close()
        assert closed >= 30  # only ~10 may stay open at a time


async def test_oversized_body_is_a_413_json_answer(tmp_path: Path) -> None:
    recipe = ("name: open\ntrigger: {type: http.webhook, auth: none}\n"
              "actions: [{type: log, message: x}]\n")
    async with hostile_daemon(tmp_path, {"open": recipe}) as running:
        async with aiohttp.ClientSession() as http, http.post(
                running.base_url + "/hooks/open", data=io.BytesIO(b"[" + b"1," * 800_000 + b"1]"),
                headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 413 and resp.content_type == "application/json"
        await assert_healthy(running)


async def test_status_page_answers_only_to_its_own_names_with_security_headers(
        tmp_path: Path) -> None:
    async with hostile_daemon(tmp_path) as running, aiohttp.ClientSession() as http:
        async with http.get(running.base_url + "/", headers={
                "Host": "rebound.evil.example", "Origin": "http://rebound.evil.example"}) \
                    as resp:
            rebound = resp.status, dict(resp.headers)
        async with http.get(running.base_url + "/metrics",
                            headers={"Host": "evil.example:9464"}) as resp:
            metrics = resp.status
        async with http.get(running.base_url + "/healthz",
                            headers={"Host": "pod-10-0-0-7.internal"}) as resp:
            probe = resp.status  # probes use any name
        async with http.get(running.base_url + "/", headers={
                "Host": f"localhost:{running.daemon.listen_port}"}) as resp:
            page = resp.status, dict(resp.headers)
        async with http.options(running.base_url + "/hooks/x", headers={
                "Origin": "https://evil.example",
                "Access-Control-Request-Method": "POST"}) as resp:
            preflight = resp.status, dict(resp.headers)
    assert rebound[0] == 421 and metrics == 421 and probe == 200
    assert page[0] == 200
    csp = page[1]["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert "default-src 'none'" in csp
    assert page[1]["X-Frame-Options"] == "DENY"
    assert page[1]["X-Content-Type-Options"] == "nosniff"
    for headers in (rebound[1], page[1], preflight[1]):
        assert not any(h.lower().startswith("access-control-") for h in headers)
    assert preflight[0] == 405


async def test_allowed_hosts_widen_the_names_the_page_answers_to(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECIPE_RUNNER_ALLOWED_HOSTS", "runner.corp.example, [::1]")
    async with hostile_daemon(tmp_path) as running, aiohttp.ClientSession() as http, \
            http.get(running.base_url + "/", headers={"Host": "runner.corp.example"}) as resp:
        assert resp.status == 200


@pytest.mark.parametrize(("token", "refused"), [
    ("x", "too short (1 characters, at least 24)"),
    ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "too uniform (1 different characters, at least 10)"),
    ("01010101010101010101010101", "too uniform (2 different characters, at least 10)"),
    ("hV3q9-Xk2Lp8Zr4Tn6Wb1Yc5Md7", None),
])
def test_a_weak_status_token_does_not_open_the_listener_to_the_network(
        token: str, refused: str | None) -> None:
    problem = listen_problem(("0.0.0.0", 9464), token)
    if refused is None:
        assert problem is None
    else:
        assert problem is not None and refused in problem and token not in problem
    assert listen_problem(("127.0.0.1", 9464), "x") is None  # loopback: any token


async def test_daemon_refuses_a_one_character_token_on_a_public_address(
        tmp_path: Path) -> None:
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "tick.yaml").write_text(TICK)
    settings = Settings(recipes=[tmp_path / "recipes"], listen="0.0.0.0:0", status_token="x",
                        state_url=f"sqlite:///{tmp_path / 's.db'}")
    with capture_logs() as logs:
        assert await asyncio.wait_for(Daemon(settings).run(), 20) == 2
    [line] = [e for e in logs if e["event"] == "daemon.cannot_start"]
    assert "too short" in line["reason"]
