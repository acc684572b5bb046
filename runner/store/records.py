"""The values the state store takes and returns (plain frozen dataclasses).

Every ``*_at`` field is a UNIX timestamp in seconds (float, UTC), as stored.
JSON fields (payloads, step input/output, cursors) are already decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class StepStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


# A step in one of these states never runs again when its job resumes.
COMPLETED_STEP_STATUSES = frozenset({StepStatus.SUCCEEDED, StepStatus.SKIPPED})


class ConnectionStatus(StrEnum):
    OK = "ok"
    INVALID = "invalid"
    NEVER_SIGNED_IN = "never_signed_in"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One trigger event to store as a job. ``key`` is its identity within the recipe
    (e.g. ``<record id>:<version>``); ``force=True`` makes a new job even if one exists."""

    key: str
    payload: Any
    force: bool = False


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What one ``commit_poll`` stored: the ids of the new jobs (in event order) and how
    many events were already known."""

    new_job_ids: tuple[str, ...]
    duplicates: int
    waiting: int = 0  # events stored as members of batches still to fill

    @property
    def new_jobs(self) -> int:
        return len(self.new_job_ids)


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    seq: int
    recipe: str
    event_key: str
    replay: int
    status: JobStatus
    payload: Any
    attempts: int
    created_at: float
    updated_at: float
    next_run_at: float
    claimed_by: str | None
    claim_expires_at: float | None
    error: str | None
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step's state to record (``input``/``output`` are JSON values, capped by the caller)."""

    job_id: str
    path: str
    status: StepStatus
    input: Any = None
    output: Any = None
    error: str | None = None
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class StepRecord:
    job_id: str
    path: str
    status: StepStatus
    input: Any
    output: Any
    error: str | None
    attempts: int
    started_at: float
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class JobDetail:
    job: Job
    steps: tuple[StepRecord, ...]


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How a job ended, for ``finish_jobs``; ``worker_id`` fences it to the claim holder."""

    job_id: str
    status: JobStatus
    error: str | None = None
    worker_id: str | None = None


@dataclass(frozen=True, slots=True)
class TokenCache:
    ciphertext: bytes
    version: int
    updated_at: float


@dataclass(frozen=True, slots=True)
class ConnectionState:
    connection: str
    state: ConnectionStatus
    reason: str | None
    updated_at: float


# A recipe whose polls failed this many times in a row is "failing" (the daemon logs an
# error line, /readyz, the status page and `recipes list` say so).
FAILING_AFTER_POLLS = 3


@dataclass(frozen=True, slots=True)
class RecipeState:
    recipe: str
    enabled: bool | None
    last_poll_at: float | None
    last_error: str | None
    failed_polls: int = 0  # in a row; 0 after a good poll
    # the daemon runs the last good version; the file's first problem
    file_problem: str | None = None
    last_good_poll_at: float | None = None  # the last poll without an error

    @property
    def failing(self) -> bool:
        return self.failed_polls >= FAILING_AFTER_POLLS
