"""``recipe-runner emulator`` and ``recipe-runner demo`` log like the daemon: in JSON mode
every line is one JSON object (where it listens, each request, the stop), and a port that
cannot be bound is one ``cannot_start`` line and exit code 2, not a traceback."""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
from pathlib import Path

import aiohttp

from tests.daemon_support import daemon_env
from tests.test_logs_json import json_lines

ROOT = Path(__file__).resolve().parents[1]


async def command(*argv: str, tmp_path: Path) -> asyncio.subprocess.Process:
    env = {**daemon_env(), "XDG_STATE_HOME": str(tmp_path)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runner.cli", *argv, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def test_emulator_logs_json_lines_and_stops_on_sigterm(tmp_path: Path) -> None:
    process = await command("emulator", "--port", "0", tmp_path=tmp_path)
    assert process.stdout is not None
    try:
        first = json_lines((await asyncio.wait_for(process.stdout.readline(), 30)).decode(),
                           "stdout")[0]
        assert first["event"] == "emulator.listening"
        context = ssl.create_default_context(cafile=first["ca_file"])
        connector = aiohttp.TCPConnector(ssl=context)
        async with aiohttp.ClientSession(connector=connector) as http, \
                http.get(first["url"] + "/api/data/v9.2/contacts") as resp:
            assert resp.status == 401  # no token: the emulator answers as Dataverse does
        process.send_signal(15)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0
    events = json_lines(stdout.decode(), "stdout") + json_lines(stderr.decode(), "stderr")
    request = next(e for e in events if e["event"] == "emulator.request")
    assert (request["method"], request["path"], request["status"]) == (
        "GET", "/api/data/v9.2/contacts", 401)
    assert events[-1]["event"] == "emulator.stopped"


async def test_emulator_and_demo_on_a_taken_port_exit_2_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        results = []
        for argv in (("emulator", "--port", port), ("demo", "--port", port)):
            process = await command(*argv, tmp_path=tmp_path)
            stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
            events = json_lines(stdout.decode(), "stdout") + json_lines(stderr.decode(),
                                                                        "stderr")
            results.append((process.returncode, events))

    (emulator_code, emulator_events), (demo_code, demo_events) = results
    assert emulator_code == 2 and demo_code == 2
    assert [e["event"] for e in emulator_events] == ["emulator.cannot_start"]
    assert emulator_events[0]["reason"] == (
        f"cannot listen on 127.0.0.1:{port}: address already in use")
    refused = [e for e in demo_events if e["event"] == "daemon.cannot_start"]
    assert len(refused) == 1 and f"127.0.0.1:{port}" in refused[0]["reason"]
    assert "daemon.ready" not in [e["event"] for e in demo_events]
