"""Table feeds in the store: one cursor row per feed, and which recipes it serves.

A feed's row in ``cursors`` is keyed by its id (``feed:<trigger>:<connection>:<group>``)
and holds ``{"cursor": <the trigger's own cursor>, "members": [recipe, …]}``. A recipe the
feed serves (a *member*) has ``{"feed": <id>, "floor": <timestamp or null>}`` in its own
row; any other recipe has its trigger's cursor there, as always. The two rows change
together:

* a feed page commits the feed's cursor and every member's new jobs in one transaction, so
  no member's cursor moves past an event whose job is not stored;
* joining writes the member's row and adds it to the feed's list;
* leaving (a member disabled, paused, backed up or no longer loaded) writes the feed's
  cursor *as it stands* into the member's row and drops it from the list: everything up
  to there was delivered to it, and from there it polls on its own until it can join again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from runner.store._sql import loads
from runner.store.cursors import advance_cursor
from runner.store.outbox import PreparedEvents, insert_events
from runner.store.records import CommitResult
from runner.store.schema import cursors

FEED_PREFIX = "feed:"


@dataclass(frozen=True)
class FeedState:
    """A feed's cursor (None before its first poll) and the members it serves."""

    cursor: dict[str, Any] | None = None
    members: tuple[str, ...] = ()
    epoch: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "members": sorted(self.members)}


@dataclass(frozen=True)
class MemberCursor:
    """A recipe's own row: its trigger's cursor, or its membership of a feed."""

    state: dict[str, Any] | None
    epoch: int = 0
    feed: str | None = field(init=False)

    def __post_init__(self) -> None:
        feed = self.state.get("feed") if isinstance(self.state, dict) else None
        object.__setattr__(self, "feed", feed if isinstance(feed, str) else None)

    @property
    def floor(self) -> str | None:
        return self.state.get("floor") if self.feed and self.state else None


def cursor_rows(conn: Connection, names: Iterable[str]) -> dict[str, tuple[Any, int]]:
    """``{name: (state, epoch)}`` of the cursor rows that exist among ``names``."""
    wanted = list(dict.fromkeys(names))
    rows = conn.execute(select(cursors.c.recipe, cursors.c.state, cursors.c.epoch)
                        .where(cursors.c.recipe.in_(wanted)))
    return {row.recipe: (loads(row.state), row.epoch) for row in rows}


def feed_rows(conn: Connection) -> dict[str, tuple[Any, int]]:
    """Every feed's cursor row, by feed id."""
    rows = conn.execute(select(cursors.c.recipe, cursors.c.state, cursors.c.epoch)
                        .where(cursors.c.recipe.like(f"{FEED_PREFIX}%")))
    return {row.recipe: (loads(row.state), row.epoch) for row in rows}


def feed_state(raw: tuple[Any, int] | None) -> FeedState:
    if raw is None or not isinstance(raw[0], dict):
        return FeedState(epoch=raw[1] if raw else 0)
    return FeedState(raw[0].get("cursor"), tuple(raw[0].get("members") or ()), raw[1])


def commit_page(conn: Connection, feed_id: str, feed: FeedState,
                deliveries: Mapping[str, PreparedEvents],
                now_s: float) -> dict[str, CommitResult]:
    """The feed's new cursor (fenced by its epoch) and each member's events as jobs."""
    advance_cursor(conn, feed_id, feed.to_dict(), feed.epoch, now_s)
    return {recipe: insert_events(conn, recipe, events, now_s)
            for recipe, events in deliveries.items()}


def store_pushed(conn: Connection, deliveries: Mapping[str, PreparedEvents],
                 now_s: float) -> dict[str, CommitResult]:
    """Pushed events as each member's jobs, in one transaction; no cursor moves (a poll,
    in hybrid mode, still reads the same changes and finds their jobs stored)."""
    return {recipe: insert_events(conn, recipe, events, now_s)
            for recipe, events in deliveries.items()}


def join(conn: Connection, feed_id: str, feed: FeedState,
         joining: Mapping[str, tuple[MemberCursor, str | None]], now_s: float) -> FeedState:
    """The ``joining`` recipes (each with its row and floor) are served by the feed from
    now on: their own polls caught up with it, or they start from now."""
    joined = FeedState(feed.cursor, (*feed.members, *joining), feed.epoch)
    advance_cursor(conn, feed_id, joined.to_dict(), feed.epoch, now_s)
    for recipe, (member, floor) in joining.items():
        advance_cursor(conn, recipe, {"feed": feed_id, "floor": floor}, member.epoch, now_s)
    return joined


def leave(conn: Connection, feed_id: str, feed: FeedState,
          leaving: Mapping[str, MemberCursor], now_s: float) -> FeedState:
    """The ``leaving`` members go on from the feed's cursor as it stands, on their own."""
    kept = FeedState(feed.cursor, tuple(m for m in feed.members if m not in leaving),
                     feed.epoch)
    advance_cursor(conn, feed_id, kept.to_dict(), feed.epoch, now_s)
    for recipe, member in leaving.items():
        state = dict(feed.cursor) if feed.cursor is not None else None
        if state is not None and member.floor is not None:
            state["floor"] = max(member.floor, state.get("floor") or member.floor)
        advance_cursor(conn, recipe, state, member.epoch, now_s)
    return kept
