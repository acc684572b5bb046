"""Bounding what one client can hold of the daemon's listener, below aiohttp.

aiohttp reads request headers without a deadline and accepts any number of connections, so
500 clients each sending one header line every 10 s hold 500 connections for as long as
they like. :class:`ConnectionGuard` wraps aiohttp's protocol per connection:

* the request head (request line and headers) must arrive within ``header_timeout_s`` of
  connecting, else ``408`` and the connection is closed;
* a connection lives at most ``lifetime_s`` (a client reading its answer a byte a minute);
* at most ``max_connections`` are open: a new one first evicts the oldest connection still
  sending its head (the slow ones), and is refused with ``503`` only when every open
  connection is a real request being answered. So probes of ``/healthz`` get in during a flood.

The body is bounded by the application (size and read timeout, ``runner.listener``), and
every answer closes its connection (no keep-alive), so one head per connection is all the
guard has to watch.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass

HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True)
class ListenerLimits:
    max_connections: int = 256
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    lifetime_s: float = 120.0
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 32


def _raw_answer(status: str, message: str, extra: str = "") -> bytes:
    body = json.dumps({"error": message}).encode()
    head = (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: "
            f"{len(body)}\r\nConnection: close\r\n{extra}\r\n")
    return head.encode() + body


TIMED_OUT = _raw_answer("408 Request Timeout", "request headers not received in time")
TOO_MANY = _raw_answer("503 Service Unavailable", "too many connections",
                       "Retry-After: 1\r\n")


class ConnectionGuard:
    """The open connections of one listener, oldest first, and the limits they live by."""

    def __init__(self, limits: ListenerLimits) -> None:
        self.limits = limits
        self._open: dict[GuardedProtocol, None] = {}  # insertion order: oldest first
        self.refused = 0
        self.evicted = 0
        self.timed_out = 0

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory wrapping ``inner`` (aiohttp's ``Server``) for ``create_server``."""
        return lambda: GuardedProtocol(inner, self)

    def admit(self, conn: GuardedProtocol) -> bool:
        if len(self._open) >= self.limits.max_connections:
            slow = next((c for c in self._open if c.head_pending), None)
            if slow is None:
                self.refused += 1
                return False
            self.evicted += 1
            self._open.pop(slow, None)
            slow.abort()
        self._open[conn] = None
        return True

    def release(self, conn: GuardedProtocol) -> None:
        self._open.pop(conn, None)


class GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the guard's deadlines."""

    def __init__(self, inner: Callable[[], asyncio.Protocol], guard: ConnectionGuard) -> None:
        self._make_inner = inner
        self._inner: asyncio.Protocol | None = None
        self._guard = guard
        self._transport: asyncio.Transport | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._tail = b""
        self.head_pending = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if not self._guard.admit(self):
            transport.write(TOO_MANY)
            transport.close()
            return
        loop = asyncio.get_running_loop()
        limits = self._guard.limits
        self._timers = [loop.call_later(limits.header_timeout_s, self._head_timed_out),
                        loop.call_later(limits.lifetime_s, self.abort)]
        self._inner = self._make_inner()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return
        if self.head_pending:
            self._scan(data)
        self._inner.data_received(data)

    def _scan(self, data: bytes) -> None:
        window = self._tail + data
        if HEAD_END in window:
            self.head_pending = False
            self._timers[0].cancel()
        self._tail = window[-3:]

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in self._timers:
            timer.cancel()
        self._guard.release(self)
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def _head_timed_out(self) -> None:
        if self.head_pending and self._transport is not None:
            self._guard.timed_out += 1
            self._transport.write(TIMED_OUT)
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
