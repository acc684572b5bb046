"""The cursor of the timestamp triggers, as pure logic (dict in, dict out).

A cursor is a JSON-able dict::

    {"v": 1, "since": "now", "floor": "2024-05-01T10:00:00", "watermark": "2024-05-01T10:42:17",
     "seen": {"2024-05-01T10:41:03": ["<id>:<version>", …], …}}

* ``floor``: nothing older is ever read (from ``since``; None for ``beginning``).
* ``watermark`` (W): every version with a timestamp below W that was visible when it was read
  has been delivered. It only moves forward, and never past the **signpost** (the service's
  ``Date`` at the poll's start minus a safety lag): a row stamped in the future (skew) cannot
  push it ahead of the service's own clock.
* ``seen``: the identities already delivered whose timestamp is at or above the next query's
  lower bound, ``max(W − lookback, floor)``, grouped by their (whole) second; older entries are
  pruned as W moves, so the set is bounded by the rows of one lookback window.

Timestamps are ``YYYY-MM-DDTHH:MM:SS`` strings (UTC, whole seconds); they compare as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

VERSION = 1
SECOND_FORMAT = "%Y-%m-%dT%H:%M:%S"


def second_of(timestamp: str) -> str:
    """``2024-05-01T10:41:03`` from ``2024-05-01T10:41:03Z`` or ``…03.120+00:00`` (UTC)."""
    return timestamp[:19]


def format_second(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(SECOND_FORMAT)


def parse_second(second: str) -> datetime:
    return datetime.strptime(second, SECOND_FORMAT).replace(tzinfo=UTC)


def shift(second: str, seconds: float) -> str:
    return format_second(parse_second(second) + timedelta(seconds=seconds))


def signpost(server_time: datetime, safety_lag_s: float) -> str:
    """The furthest the watermark may move in a poll that started at ``server_time``."""
    return format_second(server_time - timedelta(seconds=safety_lag_s))


@dataclass
class CursorState:
    """A cursor being advanced through one poll (mutable; :meth:`to_dict` snapshots it)."""

    since: str
    floor: str | None
    watermark: str | None
    seen: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def starting(cls, since: str, floor: str | None) -> CursorState:
        """A new cursor that reads from ``floor`` (None: from the beginning)."""
        return cls(since, floor, floor)

    @classmethod
    def from_dict(cls, cursor: Mapping[str, Any]) -> CursorState:
        seen = {str(s): set(ids) for s, ids in (cursor.get("seen") or {}).items()}
        return cls(str(cursor.get("since", "now")), cursor.get("floor"),
                   cursor.get("watermark"), seen)

    def to_dict(self) -> dict[str, Any]:
        return {"v": VERSION, "since": self.since, "floor": self.floor,
                "watermark": self.watermark,
                "seen": {s: sorted(ids) for s, ids in self.seen.items()}}

    def lower_bound(self, lookback_s: float) -> str | None:
        """The oldest timestamp the next query must read (inclusive); None: everything."""
        if self.watermark is None:
            return self.floor
        bound = shift(self.watermark, -lookback_s)
        return bound if self.floor is None or bound > self.floor else self.floor

    def accept(self, second: str, identity: str) -> bool:
        """True (and remembered) the first time an identity is offered; False after."""
        ids = self.seen.get(second)
        if ids is None:
            self.seen[second] = {identity}
            return True
        if identity in ids:
            return False
        ids.add(identity)
        return True

    def end_page(self, last_second: str | None, post: str | None, final: bool,
                 lookback_s: float) -> None:
        """Move W after a page whose rows (ordered by timestamp) ended at ``last_second``.

        Mid-poll W may reach the last row read (all older rows of this poll are read); after
        the last page it may reach the signpost. Never past the signpost, never backwards.
        """
        target = post if final else last_second
        if target is not None and post is not None:
            target = min(target, post)
            if self.watermark is None or target > self.watermark:
                self.watermark = target
        self._prune(lookback_s)

    def _prune(self, lookback_s: float) -> None:
        bound = self.lower_bound(lookback_s)
        if bound is None:
            return
        for second in [s for s in self.seen if s < bound]:
            del self.seen[second]


def step(cursor: Mapping[str, Any], page: Iterable[tuple[str, str]], post: str | None,
         final: bool, lookback_s: float) -> tuple[dict[str, Any], list[int]]:
    """Pure form of one page: the next cursor, and the indexes of rows to deliver.

    ``page`` holds ``(timestamp, identity)`` in query order (timestamp asc, key asc).
    """
    state = CursorState.from_dict(cursor)
    fresh: list[int] = []
    last: str | None = None
    for index, (timestamp, identity) in enumerate(page):
        last = second_of(timestamp)
        if state.accept(last, identity):
            fresh.append(index)
    state.end_page(last, post, final, lookback_s)
    return state.to_dict(), fresh
