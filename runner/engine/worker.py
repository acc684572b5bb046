"""Claiming and running one recipe's jobs, up to its concurrency, oldest first."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import structlog

from runner.engine.job import JobExecution, JobServices
from runner.engine.outcomes import Deferred, JobEnded, Skipped, StepFailed, StopJob
from runner.ops.metrics import METRICS
from runner.recipes import Recipe
from runner.store import ClaimLost, Job, JobOutcome, JobStatus, Store

MAX_JOB_ATTEMPTS = 50  # claims of one job (crashes, deferrals) before it is failed for good


@dataclass(frozen=True)
class WorkerSettings:
    worker_id: str
    claim_ttl_s: float = 60.0
    # An idle worker waits for a wake-up: new jobs from its poll, the due time of a job it
    # deferred, or the engine's sweep (``Engine.sweep``: jobs retried from the command line,
    # claims of a dead replica); this is only the backstop.
    idle_wait_s: float = 300.0
    sweep_s: float = 2.0  # how often the engine looks for jobs that came due unannounced


def refill_threshold(concurrency: int) -> int:
    """How many slots must be free before a busy worker claims again: a quarter of its
    concurrency (1 when that is below 4, so small recipes keep their order and latency).
    An idle worker claims whatever is due at once."""
    return max(1, concurrency // 4)


class RecipeWorker:
    def __init__(self, recipe: Recipe, store: Store, services: JobServices,
                 settings: WorkerSettings) -> None:
        self.recipe = recipe
        self.store = store
        self.services = services
        self.settings = settings
        self._wake = asyncio.Event()
        self._active: set[asyncio.Task[None]] = set()
        self._running_ids: dict[asyncio.Task[None], str] = {}  # for claim renewal
        self._claims_renewed_at = time.monotonic()
        self._stopping = False
        self.paused_reason: str | None = None  # a connection needs a person: claim nothing
        self._task: asyncio.Task[None] | None = None
        self.log = services.log.bind(recipe=recipe.name)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"worker:{self.recipe.name}")

    def wake(self) -> None:
        self._wake.set()

    @property
    def active_jobs(self) -> int:
        return len(self._active)

    async def run_until_idle(self) -> int:
        """Burst mode: run jobs until none is due; returns how many were run."""
        count = 0
        while True:
            claimed = await self._claim()
            if not claimed and not self._active:
                return count
            count += len(claimed)
            if self._active:
                await asyncio.wait(self._active, timeout=self.settings.claim_ttl_s / 3,
                                   return_when=asyncio.FIRST_COMPLETED)
                await self._renew_claims()

    async def stop(self, grace_s: float) -> None:
        """Stop claiming; let running jobs finish within ``grace_s``; cancel the rest (their
        claims are released by the daemon so they resume at once after a restart)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._active:
            await asyncio.wait(self._active, timeout=grace_s)
        for task in list(self._active):
            task.cancel()
        if self._active:
            await asyncio.gather(*self._active, return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                claimed = await self._claim()
            except Exception as exc:  # the store is unreachable: log, wait, try again
                self.log.error("worker.claim_failed", error=str(exc))
                claimed = []
            if not claimed:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.idle_wait_s)
            await self._renew_claims()

    async def _renew_claims(self) -> None:
        """A job that runs longer than its claim (a slow step, a long 429 storm) keeps its
        claim, so no other claimer starts it a second time while it runs."""
        if time.monotonic() - self._claims_renewed_at < self.settings.claim_ttl_s / 3:
            return
        self._claims_renewed_at = time.monotonic()
        ids = list(self._running_ids.values())
        if not ids:
            return
        try:
            await self.store.extend_claims(ids, self.settings.worker_id, self.settings.claim_ttl_s)
        except Exception as exc:  # the store is unreachable: the next round tries again
            self.log.error("worker.claim_renewal_failed", error=str(exc))

    async def _claim(self) -> list[Job]:
        free = self.recipe.concurrency - len(self._active)
        if free <= 0 or self._stopping or self.paused_reason:
            return []
        if self._active and free < refill_threshold(self.recipe.concurrency):
            return []  # one claim transaction per few freed slots, not one per job
        jobs = await self.store.claim_jobs(self.settings.worker_id, self.recipe.name, free,
                                           self.settings.claim_ttl_s)
        for job in jobs:
            task = asyncio.create_task(self._execute(job), name=f"job:{job.id}")
            self._active.add(task)
            self._running_ids[task] = job.id
            task.add_done_callback(self._done)
        return jobs

    def _done(self, task: asyncio.Task[None]) -> None:
        self._active.discard(task)
        self._running_ids.pop(task, None)
        self._wake.set()

    async def _execute(self, job: Job) -> None:
        try:
            await self._run_job(job)
        except ClaimLost:  # another worker runs the job now; this one must not go on
            self.log.warning("job.abandoned", job=job.id,
                             reason="its claim expired and another worker took it")
        except Exception as exc:  # e.g. the store failed: the claim expires, the job resumes
            self.log.error("job.interrupted", job=job.id, error=f"{exc.__class__.__name__}: {exc}")

    async def _run_job(self, job: Job) -> None:
        # Each job runs in its own task, so these bindings reach only its own log lines.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(recipe=self.recipe.name, job=job.id)
        started = time.monotonic()
        completed = await self.store.completed_steps(job.id) if job.attempts > 1 else {}
        execution = JobExecution(self.recipe, job, completed, self.services)
        log = execution.log
        status, error, delay_s = JobStatus.SUCCEEDED, None, None
        waiting_for_person = False
        try:
            await execution.run()
        except StopJob as stop:
            status = JobStatus.SUCCEEDED if stop.outcome == "success" else JobStatus.FAILED
            error = None if stop.outcome == "success" else stop.message or "stopped with error"
        except StepFailed as failed:
            status, error = JobStatus.FAILED, failed.message
        except Skipped as skipped:
            status, error = JobStatus.CANCELLED, f"skipped: {skipped.message}"
        except Deferred as deferred:
            delay_s, error = deferred.delay_s, deferred.reason
            waiting_for_person = deferred.connection is not None
        except JobEnded as other:  # pragma: no cover - every subclass is handled above
            status, error = JobStatus.FAILED, str(other)
        # A job waiting for a connection to be fixed never runs out of attempts.
        if delay_s is not None and not waiting_for_person and job.attempts >= MAX_JOB_ATTEMPTS:
            status, delay_s = JobStatus.FAILED, None
        await self._finish(execution, job, status, error, delay_s)
        self._log_finished(log, job, execution, status, error, delay_s, started)

    async def _finish(self, execution: JobExecution, job: Job, status: JobStatus,
                      error: str | None, delay_s: float | None) -> None:
        if delay_s is None:
            # Fenced: if the claim expired and another worker took the job, nothing is written.
            outcome = JobOutcome(job.id, status, error, self.settings.worker_id)
            await self.services.writer.write(execution.unflushed, [outcome])
            return
        await execution.flush()
        await self.store.retry_job_later(job.id, delay_s, error,
                                         worker_id=self.settings.worker_id)
        asyncio.get_running_loop().call_later(delay_s, self.wake)  # due again then

    def _log_finished(self, log: Any, job: Job, execution: JobExecution, status: JobStatus,
                      error: str | None, delay_s: float | None, started: float) -> None:
        fields = {"outcome": "deferred" if delay_s is not None else status.value,
                  "duration_ms": round((time.monotonic() - started) * 1000, 1),
                  "steps_run": execution.steps_run, "attempt": job.attempts,
                  "event_key": job.event_key}
        METRICS.jobs_finished.labels(self.recipe.name, fields["outcome"]).inc()
        if delay_s is not None:
            log.warning("job.deferred", delay_s=round(delay_s, 1), error=error, **fields)
        elif status is JobStatus.FAILED:
            log.error("job.finished", error=error, **fields)
        else:
            log.info("job.finished", **fields)
