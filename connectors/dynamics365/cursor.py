"""Re-exports :mod:`connectors.odata.cursor` (shared with the F&O connector) for existing
imports."""

from __future__ import annotations

from connectors.odata.cursor import (
    SECOND_FORMAT,
    VERSION,
    CursorState,
    format_second,
    parse_second,
    second_of,
    shift,
    signpost,
    step,
)

__all__ = ["SECOND_FORMAT", "VERSION", "CursorState", "format_second", "parse_second",
           "second_of", "shift", "signpost", "step"]
