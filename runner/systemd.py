"""Talking to systemd: the ``sd_notify`` protocol over ``NOTIFY_SOCKET``, with no dependency.

systemd starts a ``Type=notify`` service with ``NOTIFY_SOCKET`` set to a datagram socket
(a path, or ``@name`` in the abstract namespace). The daemon sends newline-separated
``KEY=value`` lines to it:

* ``READY=1`` once recipes are loaded and polling has started (``systemctl start`` returns);
* ``RELOADING=1`` then ``READY=1`` around a reload (SIGHUP or a changed recipe file);
* ``STOPPING=1`` when a graceful stop begins;
* ``STATUS=…`` a line ``systemctl status`` shows;
* ``WATCHDOG=1`` every half of ``WATCHDOG_USEC``, from a task on the event loop, so a stuck
  loop stops the pings and systemd restarts the service (``WatchdogSec=``).

Without ``NOTIFY_SOCKET`` (a terminal, a container) every method is a no-op. Sending never
raises: a lost notification must not stop the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Mapping

import structlog

__all__ = ["SystemdNotifier"]

_log = structlog.get_logger("recipe-runner.systemd")


def _address(notify_socket: str) -> str | None:
    """``NOTIFY_SOCKET`` → an ``AF_UNIX`` address; ``@`` means the abstract namespace."""
    if notify_socket.startswith("@"):
        return "\0" + notify_socket[1:]
    if notify_socket.startswith("/"):
        return notify_socket
    return None  # e.g. vsock:…, which a service on the host never gets


def _watchdog_interval_s(environ: Mapping[str, str]) -> float | None:
    """Half of ``WATCHDOG_USEC``, or None when the watchdog is off or meant for another pid."""
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 2 / 1_000_000


class SystemdNotifier:
    """Sends sd_notify messages; every method is a no-op when not started by systemd."""

    def __init__(self, address: str | None, watchdog_interval_s: float | None = None) -> None:
        self.address = address
        self.watchdog_interval_s = watchdog_interval_s if address else None
        self._watchdog: asyncio.Task[None] | None = None
        self._warned = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SystemdNotifier:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        return cls(_address(raw) if raw else None, _watchdog_interval_s(env))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` as one datagram; True if it was sent."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            if not self._warned:  # once: a missing socket would otherwise flood the log
                self._warned = True
                _log.warning("systemd.notify_failed", error=str(exc))
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={_one_line(status)}")

    def reloading(self) -> bool:
        # systemd ≥ 253 wants the monotonic time with RELOADING=1; older ones ignore it.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading recipes")

    def stopping(self, status: str) -> bool:
        return self.notify("STOPPING=1", f"STATUS={_one_line(status)}")

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={_one_line(status)}")

    # -- watchdog ----------------------------------------------------------------------

    def start_watchdog(self) -> None:
        """Ping ``WATCHDOG=1`` from the running loop until :meth:`stop_watchdog`."""
        if self.watchdog_interval_s is None or self._watchdog is not None:
            return
        self._watchdog = asyncio.create_task(self._ping_forever(), name="systemd-watchdog")

    async def stop_watchdog(self) -> None:
        task, self._watchdog = self._watchdog, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _ping_forever(self) -> None:
        assert self.watchdog_interval_s is not None
        while True:
            self.notify("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_interval_s)


def _one_line(text: str) -> str:
    return " ".join(text.split())
