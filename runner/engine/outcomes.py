"""How a job's run can end, as exceptions raised out of the step tree."""

from __future__ import annotations


class JobEnded(Exception):
    """Base: the job stops running steps."""


class StopJob(JobEnded):
    """A ``stop`` step: the job ends as ``outcome`` with ``message``."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


class StepFailed(JobEnded):
    """A step failed for good (retries exhausted or not retryable) and nothing handled it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Deferred(JobEnded):
    """Come back later: the job is released to pending, due again in ``delay_s``."""

    def __init__(self, delay_s: float, reason: str, connection: str | None = None) -> None:
        super().__init__(reason)
        self.delay_s = delay_s
        self.reason = reason
        self.connection = connection


class Skipped(JobEnded):
    """A connector asked to drop this event (``SkipEvent``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
