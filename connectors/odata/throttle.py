"""One throttle per connection: a shared 429 pause, a concurrency cap and a request-rate cap.

Dataverse limits each user to 6,000 requests per 300 s, 52 concurrent requests and 20 minutes
of execution time (reference §7). When one request is answered 429 with ``Retry-After``, every
caller on the same connection waits until then instead of each one hammering the service; when
the pause ends, one request goes first as a probe and the others follow only once it has been
answered without a new 429, so a storm costs one request per ``Retry-After``. The defaults stay
under the limits: 16 in flight, and a token bucket of 16 requests/s with a burst
of 500 (at most 500 + 16 × 300 = 5,300 requests in any 300 s).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from connectors.http.retry_after import parse_retry_after


@dataclass(frozen=True)
class ThrottleSettings:
    max_concurrent: int = 16
    requests_per_s: float = 16.0
    burst: int = 500


class ConnectionThrottle:
    """Shared by every request on one connection (all recipes using it)."""

    def __init__(self, settings: ThrottleSettings | None = None) -> None:
        self.settings = settings or ThrottleSettings()
        self._slots = asyncio.Semaphore(self.settings.max_concurrent)
        self._tokens = float(self.settings.burst)
        self._refilled_at = time.monotonic()
        self._paused_until = 0.0  # monotonic seconds
        self._needs_probe = False  # a pause happened: the next request goes alone
        self._probe: asyncio.Event | None = None  # set when the probe request is answered
        self._bucket_lock = asyncio.Lock()

    @property
    def paused_for_s(self) -> float:
        """Seconds left of the current shared pause (0 when none)."""
        return max(0.0, self._paused_until - time.monotonic())

    def pause(self, seconds: float) -> None:
        """Every caller waits ``seconds`` from now (a later pause never shortens an earlier)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        self._needs_probe = True

    def observe(self, status: int, retry_after: str | None) -> None:
        """Called inside the slot with each response: a 429 pauses everyone *before* the
        probe's slot is released, so no waiting caller slips through in between."""
        if status == 429:
            seconds = parse_retry_after(retry_after)
            if seconds is not None:
                self.pause(seconds)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait out any pause (and its probe), take a rate token and a concurrency slot,
        for one request."""
        async with self._slots:
            await self._wait_clear(may_probe=False)
            await self._take_token()
            # A 429 may have arrived while we waited for a token; after a pause, the first
            # request through is the probe and the rest wait for its answer.
            probe = await self._wait_clear(may_probe=True)
            try:
                yield
            finally:
                if probe is not None:
                    self._probe = None
                    probe.set()

    async def _wait_clear(self, *, may_probe: bool) -> asyncio.Event | None:
        """Return once no pause is running and no probe is in flight; the probe's event if
        this request is to be the probe."""
        while True:
            if (left_s := self.paused_for_s) > 0:
                await asyncio.sleep(left_s)  # loop: another 429 may extend the pause
            elif self._probe is not None:
                await self._probe.wait()
            elif self._needs_probe and may_probe:
                self._needs_probe = False
                self._probe = asyncio.Event()
                return self._probe
            else:
                return None

    async def _take_token(self) -> None:
        async with self._bucket_lock:
            while True:
                now = time.monotonic()
                rate = self.settings.requests_per_s
                self._tokens = min(float(self.settings.burst),
                                   self._tokens + (now - self._refilled_at) * rate)
                self._refilled_at = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) / rate)
