"""Every failure a connector can report, grouped by what the caller should do about it.

::

    ConnectorError                 base of everything below
    ├── RetryableError             try again later (429, 502/503/504, timeouts, resets);
    │                              carries ``retry_after_s`` when the service said how long
    ├── AuthError                  needs a person: re-sign-in, a new secret, consent;
    │                              carries the AADSTS code when there is one
    ├── FatalError                 retrying cannot help (400/403/404/412 …); carries the
    │                              service's own code and message
    ├── SkipEvent                  this event should be dropped, deliberately (not an error)
    └── RecipeError                the recipe or connection configuration is wrong

The engine decides retries, pausing and failing jobs from the class alone; connectors map
wire errors into these once, at the edge.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConnectorError",
    "FatalError",
    "RecipeError",
    "RetryableError",
    "SkipEvent",
]


class ConnectorError(Exception):
    """Base class. ``status`` is the HTTP status when the error came from a response."""

    # True when an earlier attempt of the same request failed with its outcome unknown
    # (a timeout, a reset, a 5xx), so it may have been applied before this answer.
    resent: bool = False

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class RetryableError(ConnectorError):
    """A transient failure; ``retry_after_s`` is the service's requested delay, if it gave one."""

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float | None = None,
        status: int | None = None,
        code: str | None = None,
        not_sent: bool = False,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after_s = retry_after_s
        self.not_sent = not_sent  # the request never reached the service (refused, DNS)

    @property
    def outcome_unknown(self) -> bool:
        """The request may have been applied before this failure (a timeout, a reset, a
        5xx); a 429 or a connection never made was certainly not applied."""
        return not self.not_sent and self.status != 429


class AuthError(ConnectorError):
    """The connection cannot authenticate without a person (``code`` is e.g. ``AADSTS50173``)."""

    def __init__(
        self, message: str, *, connection: str | None = None, code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.connection = connection


class FatalError(ConnectorError):
    """Retrying the same request cannot succeed; the job step fails with this message."""


class SkipEvent(ConnectorError):
    """Drop the current event on purpose; the job ends as skipped, not failed."""


class RecipeError(ConnectorError):
    """The recipe or connection configuration is wrong (found at run time)."""
