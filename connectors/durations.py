"""Durations as people write them in YAML (``30s``, ``5m``, ``1h30m``, ``2d``, or a number of
seconds), as a pydantic type that validates to seconds (float)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """Seconds in ``value``; raises ValueError with the accepted forms on anything else."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 30s, 5m, 1h30m, 2d")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        parts = _PART.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise ValueError(
                f"{value!r} is not a duration (use seconds or text like 30s, 5m, 1h30m, 2d)"
            )
        seconds = sum(float(n) * _UNIT_S[u] for n, u in parts)
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
