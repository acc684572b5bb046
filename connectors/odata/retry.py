"""Bounded retries with exponential backoff and full jitter, honouring ``Retry-After``.

Only :class:`~connectors.errors.RetryableError` is retried. When the service said how long to
wait, that wait is used (never shortened by jitter); otherwise attempt *n* waits a random time
in ``[0, min(max_delay_s, base_delay_s * 2**n)]`` (AWS "full jitter").
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from connectors.errors import ConnectorError, RetryableError

T = TypeVar("T")
OnRetry = Callable[[RetryableError, int, float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` counts the first try; ``max_delay_s`` caps the computed backoff."""

    max_attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 300.0  # a longer Retry-After is handed to the engine instead

    def delay_s(self, attempt: int, retry_after_s: float | None,
                rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after_s is not None:
            return retry_after_s
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return (rng or random).uniform(0.0, ceiling)


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy,
                       on_retry: OnRetry | None = None) -> T:
    """``await call()`` until it succeeds, raises a non-retryable error, or attempts run out.

    ``on_retry(error, attempt, delay_s)`` runs before each wait (the client uses it to make
    every caller on the connection wait out a 429). The last RetryableError is re-raised.
    An error raised after an attempt whose outcome was unknown (a timeout, a reset, a 5xx)
    carries ``resent = True``: the request may have been applied once already.
    """
    attempt = 1
    resent = False
    while True:
        try:
            return await call()
        except ConnectorError as exc:
            exc.resent = exc.resent or resent
            if not isinstance(exc, RetryableError):
                raise
            wait_s = exc.retry_after_s
            too_long = wait_s is not None and wait_s > policy.max_retry_after_s
            if attempt >= policy.max_attempts or too_long:
                raise
            resent = resent or exc.outcome_unknown
            delay_s = policy.delay_s(attempt, exc.retry_after_s)
            if on_retry is not None:
                await on_retry(exc, attempt, delay_s)
            await asyncio.sleep(delay_s)
            attempt += 1


class NotingResends(Generic[T]):
    """``call`` made retryable while noting whether a later attempt is a resend: ``resent``
    turns True once an attempt fails with its outcome unknown (a timeout, a reset, a 5xx),
    so whatever the next attempt answers, the request may already have been applied."""

    def __init__(self, call: Callable[[], Awaitable[T]]) -> None:
        self._call = call
        self.resent = False

    async def __call__(self) -> T:
        try:
            return await self._call()
        except RetryableError as exc:
            self.resent = self.resent or exc.outcome_unknown
            raise
