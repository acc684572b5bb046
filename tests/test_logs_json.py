"""In JSON mode every line the daemon (and its libraries) writes, on stdout and stderr, is
one JSON object: through a taken port, an unreachable host, a poll longer than its interval
and a SIGTERM while a poll is storing pages. Exceptions are a field, never raw lines."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog

from emulator import RunningEmulator
from runner.logs import configure_logging
from tests.d365_support import insert_rows
from tests.daemon_support import daemon_env, prepare
from tests.tokens_support import connection, free_port, write_connections


def json_lines(text: str, stream: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as a JSON object; fails naming the first line that is not."""
    events = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            event = json.loads(line)
        except ValueError:
            raise AssertionError(f"{stream} line {number} is not JSON: {line!r}") from None
        assert isinstance(event, dict), f"{stream} line {number} is not an object: {line!r}"
        assert {"event", "level", "timestamp"} <= event.keys(), line
        events.append(event)
    return events


async def daemon(*args: str, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runner.cli", "run", *args, env={**daemon_env(), **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def finish(process: asyncio.subprocess.Process,
                 timeout_s: float = 30) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    return json_lines(stdout.decode(), "stdout"), json_lines(stderr.decode(), "stderr")


async def until_line(stream: asyncio.StreamReader, needle: str, timeout_s: float = 40) -> str:
    """Everything ``stream`` printed up to and including the first line holding ``needle``."""
    text = ""
    async with asyncio.timeout(timeout_s):
        while needle not in text:
            line = await stream.readline()
            assert line, f"the stream ended before {needle}:\n{text[-3000:]}"
            text += line.decode()
    return text


async def test_a_taken_port_is_one_cannot_start_line_and_exit_2(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    args = await prepare(emulator, tmp_path, {})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await daemon(*args, RECIPE_RUNNER_LISTEN=f"127.0.0.1:{port}")
        out, err = await finish(process)

    assert process.returncode == 2
    events = [e["event"] for e in out + err]
    assert "daemon.ready" not in events and "daemon.cannot_start" in events
    refused = next(e for e in out if e["event"] == "daemon.cannot_start")
    assert refused["reason"].startswith(
        f"cannot listen on 127.0.0.1:{port}: address already in use")
    assert "RECIPE_RUNNER_LISTEN" in refused["reason"]


async def test_unreachable_host_overrun_and_sigterm_mid_poll_write_only_json(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    slow = {"name": "slow", "trigger": {
        "type": "dynamics365.new_or_updated_record", "connection": "crm", "table": "contacts",
        "since": "beginning", "poll_interval": "1s", "page_size": 5}, "actions": [
        {"type": "log", "message": "{{ trigger.record.lastname }}"}]}
    far = {"name": "far", "trigger": {
        "type": "dynamics365.new_record", "connection": "far", "table": "contacts",
        "poll_interval": "1s"}, "actions": [{"type": "log", "message": "never"}]}
    args = await prepare(emulator, tmp_path, {"slow": slow, "far": far})
    closed = free_port()
    write_connections(tmp_path, {
        "crm": connection(emulator),
        "far": connection(emulator, authority_host=f"127.0.0.1:{closed}",
                          environment=f"127.0.0.1:{closed}")})
    async with emulator.client_session() as http:
        await insert_rows(http, emulator, "contact",
                          [{"lastname": f"L{i:02d}"} for i in range(30)])
        async with http.post(f"{emulator.base_url}/_emulator/latency",
                             json={"path": "/api/data/*", "ms": 400}) as resp:
            assert resp.status < 300
    process = await daemon(*args, RECIPE_RUNNER_LISTEN="127.0.0.1:0",
                           RECIPE_RUNNER_LOG_LEVEL="debug")
    assert process.stdout is not None and process.stderr is not None
    stderr = asyncio.create_task(process.stderr.read())
    try:
        seen = await until_line(process.stdout, '"poll.overran"')  # six pages at 0.4 s each
        process.send_signal(15)  # while that poll is still storing its pages
        rest = await asyncio.wait_for(process.stdout.read(), 30)
        await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    out = json_lines(seen + rest.decode(), "stdout")
    err = json_lines((await stderr).decode(), "stderr")

    assert process.returncode == 0
    events = out + err
    names = [e["event"] for e in events]
    assert "poll.overran" in names
    assert not any("maximum number of running instances" in json.dumps(e) for e in events)
    unreachable = [e for e in events if e["event"] == "poll.failed" and e["recipe"] == "far"]
    assert unreachable and f"127.0.0.1:{closed}: connection refused" in unreachable[0]["error"]
    assert names[-1] == "daemon.stopped"
    assert names.index("daemon.listening") < names.index("daemon.ready")


def test_library_logs_warnings_and_uncaught_exceptions_are_json_with_the_traceback_as_a_field(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")
    logging.getLogger("apscheduler.scheduler").warning(
        'Execution of job "x" skipped: maximum number of running instances reached (1)')
    logging.getLogger("aiohttp.server").error("Error handling request", exc_info=_error())
    logging.getLogger("apscheduler.scheduler").info("Added job")  # below its floor
    structlog.get_logger().info("ours", secretish="plain")
    sys.excepthook(*_info(_error()))
    out = capsys.readouterr().out

    events = json_lines(out, "stdout")
    assert [e["event"] for e in events] == ["library.log", "ours",
                                            "process.uncaught_exception"]
    library = events[0]
    assert library["logger"] == "aiohttp.server" and library["level"] == "error"
    assert library["message"] == "Error handling request"
    assert "Traceback" in library["exception"] and "boom" in library["exception"]
    assert "ValueError: boom" in events[2]["exception"]


def _error() -> ValueError:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        return exc


def _info(exc: BaseException) -> tuple[type[BaseException], BaseException, Any]:
    return type(exc), exc, exc.__traceback__
