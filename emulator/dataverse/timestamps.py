"""Datetimes as Dataverse writes them: UTC, whole seconds, ``YYYY-MM-DDTHH:MM:SSZ``; stored as
epoch seconds."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_datetime(text: str) -> int:
    """An ISO 8601 date or date-time (``Z`` or an offset; naive means UTC) -> epoch seconds."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def format_datetime(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
