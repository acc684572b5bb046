"""Param types the Dataverse and F&O connectors share, each validated (and documented) once.

``EntitySet`` and ``Columns`` are names that go into a URL or ``$select``; ``Since``,
``Lookback`` and ``SafetyLag`` are the timestamp triggers' common params
(:mod:`connectors.dynamics365.triggers`, :mod:`connectors.dynamics_fo.triggers`). A model
states the default at the field, e.g. ``since: Since = "now"``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from connectors.durations import Duration
from connectors.odata import escaping


def column_names(value: list[str] | None) -> list[str] | None:
    """Every name a column or navigation path (ValueError names the first that is not)."""
    return None if value is None else [escaping.identifier(c) for c in value]


def since_value(value: str) -> str:
    """``now``, ``beginning`` or an ISO date (ValueError names the bad value)."""
    if value not in ("now", "beginning"):
        escaping.parse_datetime(value)
    return value


EntitySet = Annotated[str, AfterValidator(escaping.path_segment)]
Columns = Annotated[list[str] | None, AfterValidator(column_names)]
Since = Annotated[str, AfterValidator(since_value), Field(
    description="Where a new recipe starts: now, beginning, or an ISO date.",
    examples=["now", "beginning", "2024-01-01T00:00:00Z"])]
Lookback = Annotated[Duration, Field(description="How far back late commits are looked for.",
                                     examples=["5m"])]
SafetyLag = Annotated[Duration, Field(description="The watermark stays this far behind the "
                                      "service's clock.", examples=["2s"])]
