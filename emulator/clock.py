"""The emulator clock: wall-clock UTC plus an offset that tests can advance.

Everything time-dependent in the emulator (token expiry, refresh-token inactivity,
``createdon``/``modifiedon``) reads this clock, so a test can simulate a year in a second.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class EmulatorClock:
    def __init__(self) -> None:
        self._offset_s = 0.0

    def time(self) -> float:
        """Seconds since the epoch, emulator time."""
        return time.time() + self._offset_s

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def now_whole_seconds(self) -> datetime:
        """Now, truncated to whole seconds, as Dataverse stores ``modifiedon``."""
        return self.now().replace(microsecond=0)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        self._offset_s += seconds

    @property
    def offset_s(self) -> float:
        return self._offset_s
