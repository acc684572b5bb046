"""What the timestamp triggers of both connectors do alike around their queries: open the
cursor a poll starts from, and group a page's events into batches.

The contract and the queries are each connector's (:mod:`connectors.dynamics365.triggers`,
:mod:`connectors.dynamics_fo.triggers`); the cursor is :mod:`connectors.odata.cursor`'s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from connectors.base import Event
from connectors.errors import FatalError
from connectors.odata import escaping
from connectors.odata.cursor import CursorState, format_second


class Dated(Protocol):
    """A response that tells the service's clock."""

    @property
    def server_time(self) -> datetime | None: ...


async def open_cursor(cursor: Mapping[str, Any] | None, since: str, service: str,
                      read_one: Callable[[], Awaitable[Dated]]) -> tuple[CursorState, bool]:
    """The cursor a poll starts from, and True when the poll is to end right there.

    A stored ``cursor`` is resumed. A new one starts at ``since``: ``beginning``, an ISO date,
    or ``now``, the service's clock, read from the ``Date`` of ``read_one()`` (a one-row
    query); a new ``now`` cursor is only stored, and the next poll reads from that instant on.
    """
    if cursor is not None:
        return CursorState.from_dict(cursor), False
    if since == "beginning":
        return CursorState.starting("beginning", None), False
    if since != "now":
        return CursorState.starting(since, format_second(escaping.parse_datetime(since))), False
    server_time = (await read_one()).server_time
    if server_time is None:
        raise FatalError(f"{service} sent no Date header; cannot tell what 'now' is")
    return CursorState.starting("now", format_second(server_time)), True


def batch_events(events: list[Event], batch_size: int) -> list[Event]:
    """Events grouped ``batch_size`` at a time, each batch keyed by its members' keys."""
    if batch_size <= 1:
        return events
    batches = []
    for start in range(0, len(events), batch_size):
        chunk = events[start:start + batch_size]
        digest = hashlib.blake2b("\n".join(e.key for e in chunk).encode(), digest_size=12)
        batches.append(Event(f"batch:{digest.hexdigest()}:{len(chunk)}",
                             {"records": [e.record for e in chunk]}, "batch"))
    return batches
