"""A heartbeat the event loop updates: ``/healthz`` answers from its age, so a loop that
is starved or stuck in blocking code shows as unhealthy instead of merely slow."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from runner.ops.metrics import Metrics

Clock = Callable[[], float]


class Heartbeat:
    """Beats every ``interval_s`` on the running loop; ``stale_after_s`` without a beat
    means the loop is not alive."""

    def __init__(self, interval_s: float = 1.0, stale_after_s: float = 10.0,
                 metrics: Metrics | None = None, clock: Clock = time.monotonic) -> None:
        self.interval_s = interval_s
        self.stale_after_s = stale_after_s
        self._metrics = metrics
        self._clock = clock
        self.last_beat = clock()
        self.lag_s = 0.0  # how late the last beat ran
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.last_beat = self._clock()
        self._task = asyncio.create_task(self._beat(), name="ops-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def age_s(self) -> float:
        return self._clock() - self.last_beat

    @property
    def alive(self) -> bool:
        return self.age_s <= self.stale_after_s

    async def _beat(self) -> None:
        while True:
            expected = self._clock() + self.interval_s
            await asyncio.sleep(self.interval_s)
            now = self._clock()
            self.last_beat, self.lag_s = now, max(0.0, now - expected)
            if self._metrics is not None:
                self._metrics.loop_lag.set(self.lag_s)
