"""What the timestamp triggers of both connectors do alike around their queries: open the
cursor a poll starts from.

The contract and the queries are each connector's (:mod:`connectors.dynamics365.triggers`,
:mod:`connectors.dynamics_fo.triggers`); the cursor is :mod:`connectors.odata.cursor`'s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

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
