"""The sd_notify protocol, seen from systemd's side: a real ``AF_UNIX`` datagram socket as
``NOTIFY_SOCKET`` and ``recipe-runner run`` as a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.systemd import SystemdNotifier
from tests.daemon_support import daemon_env

TICK = """\
name: tick
trigger:
  type: schedule
  every: 1s
  poll_interval: 0.2s
actions:
  - type: log
    message: "tick {{ trigger.record.fire_time }}"
"""
WATCHDOG_USEC = 300_000  # pings every 0.15 s


@contextmanager
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket like systemd's; short path (AF_UNIX allows ~107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="sd-") as folder:
        path = os.path.join(folder, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.setblocking(False)
        try:
            yield sock, path
        finally:
            sock.close()


async def receive_until(sock: socket.socket, check: Callable[[str], bool],
                        seen: list[str], timeout_s: float = 15.0) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        remaining_s = deadline - loop.time()
        if remaining_s <= 0:
            raise AssertionError(f"no matching notification; got {seen}")
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 4096), remaining_s)
        except TimeoutError:
            continue
        message = data.decode()
        seen.append(message)
        if check(message):
            return message


async def start_daemon(folder: Path, **extra_env: str) -> asyncio.subprocess.Process:
    (folder / "recipes").mkdir()
    (folder / "recipes" / "tick.yaml").write_text(TICK)
    env = {k: v for k, v in daemon_env().items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
    env.update(extra_env)
    log = (folder / "daemon.log").open("wb")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "runner.cli", "run", "--recipes", str(folder / "recipes"),
            "--state", f"sqlite:///{folder / 'state.db'}", "--grace", "2",
            stdout=log, stderr=asyncio.subprocess.STDOUT, env=env)
    finally:
        log.close()


async def stop(process: asyncio.subprocess.Process, folder: Path, *, signalled: bool) -> int:
    """SIGTERM unless already sent (a second one means "exit at once"); wait for the exit."""
    if not signalled and process.returncode is None:
        process.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(process.wait(), 15)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError((folder / "daemon.log").read_text()[-3000:]) from None


async def test_daemon_sends_ready_then_watchdog_pings_then_stopping_and_exits_0(
    tmp_path: Path,
) -> None:
    seen: list[str] = []
    with notify_socket() as (sock, path):
        process = await start_daemon(tmp_path, NOTIFY_SOCKET=path,
                                     WATCHDOG_USEC=str(WATCHDOG_USEC))
        signalled = False
        try:
            ready = await receive_until(sock, lambda m: "READY=1" in m.splitlines(), seen)
            assert "STATUS=1 recipes running" in ready.splitlines()
            loop = asyncio.get_running_loop()
            started = loop.time()
            for _ in range(3):
                await receive_until(sock, lambda m: m == "WATCHDOG=1", seen)
            assert loop.time() - started < 3 * WATCHDOG_USEC / 1e6 + 1.0
            process.send_signal(signal.SIGTERM)
            signalled = True
            stopping = await receive_until(sock, lambda m: "STOPPING=1" in m.splitlines(), seen)
            assert any(line.startswith("STATUS=stopping") for line in stopping.splitlines())
        finally:
            returncode = await stop(process, tmp_path, signalled=signalled)
    assert returncode == 0, (tmp_path / "daemon.log").read_text()[-3000:]


async def test_sighup_reports_reloading_then_ready_and_no_pings_without_watchdog(
    tmp_path: Path,
) -> None:
    seen: list[str] = []
    with notify_socket() as (sock, path):
        process = await start_daemon(tmp_path, NOTIFY_SOCKET=path)
        try:
            await receive_until(sock, lambda m: "READY=1" in m.splitlines(), seen)
            process.send_signal(signal.SIGHUP)
            reloading = await receive_until(sock, lambda m: "RELOADING=1" in m, seen)
            assert any(line.startswith("MONOTONIC_USEC=") for line in reloading.splitlines())
            await receive_until(sock, lambda m: "READY=1" in m.splitlines(), seen)
        finally:
            returncode = await stop(process, tmp_path, signalled=False)
        await receive_until(sock, lambda m: "STOPPING=1" in m.splitlines(), seen, 5)
    assert returncode == 0
    assert "WATCHDOG=1" not in seen


async def test_abstract_namespace_socket_receives_status() -> None:
    name = f"recipe-runner-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.status("loading\nrecipes")
        assert sock.recv(4096) == b"STATUS=loading recipes"


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    notifier = SystemdNotifier.from_env({"WATCHDOG_USEC": "1000000"})
    assert not notifier.enabled
    assert notifier.ready("ready") is False
    assert notifier.watchdog_interval_s is None


def test_watchdog_meant_for_another_pid_is_ignored() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}
    assert SystemdNotifier.from_env(env).watchdog_interval_s is None
    env["WATCHDOG_PID"] = str(os.getpid())
    assert SystemdNotifier.from_env(env).watchdog_interval_s == 10.0


def test_unreachable_socket_is_reported_not_raised(tmp_path: Path) -> None:
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.notify("READY=1") is False
