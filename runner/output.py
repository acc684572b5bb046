"""How the operator commands print: aligned tables for people, JSON for scripts.

Times are UNIX seconds in the store; people see ``2026-01-02 03:04:05Z`` and scripts get
ISO 8601 (``2026-01-02T03:04:05Z``), both UTC, so neither depends on the host's zone.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

NONE_CELL = "-"


def human_time(timestamp_s: float | None) -> str:
    """``2026-01-02 03:04:05Z`` (UTC), or ``-`` for no time."""
    if timestamp_s is None:
        return NONE_CELL
    return datetime.fromtimestamp(timestamp_s, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def iso_time(timestamp_s: float | None) -> str | None:
    """ISO 8601 in UTC with millisecond precision, or ``None``."""
    if timestamp_s is None:
        return None
    moment = datetime.fromtimestamp(timestamp_s, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 event``, ``2 events``, ``0 events`` (``plural`` for irregular nouns)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def one_line(text: str | None, max_chars: int = 60) -> str:
    """``text`` on one line, cut to ``max_chars`` with an ellipsis; ``-`` for none."""
    if not text:
        return NONE_CELL
    flat = " ".join(text.split())
    return flat if len(flat) <= max_chars else flat[: max_chars - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    cells = [[str(h).upper() for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [value.ljust(width) for value, width in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return NONE_CELL
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def pretty_json(value: Any) -> str:
    """Indented JSON; values JSON cannot hold (dates, enums) are written as text."""
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


def print_json(value: Any) -> None:
    print(pretty_json(value))


def indented(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def print_error(message: str) -> None:
    """One line on stderr, the way every operator command reports a mistake."""
    print(f"error: {message}", file=sys.stderr)
