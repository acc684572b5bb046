"""The job lifecycle: claim, extend, finish, retry later, retry failed.

::

    pending ──claim──▶ running ──finish──▶ succeeded | failed | cancelled
       ▲                 │  └─claim expired, reclaimed by another worker (attempts + 1)
       └─retry_job_later─┘            failed ──retry_failed──▶ pending

A claim is a lease: ``claimed_by`` plus ``claim_expires_at``. Calls that pass a
``worker_id`` are fenced to the current claim holder and raise ``ClaimLost`` otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, bindparam, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from runner.store._sql import loads
from runner.store.errors import ClaimLost
from runner.store.records import Job, JobOutcome, JobStatus
from runner.store.schema import jobs

PENDING, RUNNING, FAILED = JobStatus.PENDING.value, JobStatus.RUNNING.value, JobStatus.FAILED.value


def job_from_row(row: Row[Any]) -> Job:
    """A ``Job`` from a full ``jobs`` row."""
    values = row._asdict()
    values["status"] = JobStatus(values["status"])
    values["payload"] = loads(values["payload"])
    return Job(**values)


def _claimable(now_s: float) -> ColumnElement[bool]:
    return or_(
        and_(jobs.c.status == PENDING, jobs.c.next_run_at <= now_s),
        and_(jobs.c.status == RUNNING, jobs.c.claim_expires_at < now_s),
    )


def _candidates(recipe: str | None, limit: int, now_s: float) -> list[Select[tuple[int]]]:
    """Two index-friendly picks, each the oldest ``limit`` of its kind: due pending jobs
    (walks ``(recipe, status, seq)`` in order and stops after ``limit``) and running jobs
    whose claim expired (few). One query with ``OR`` would read every job of the recipe,
    finished ones included, and sort them: a claim would cost O(history)."""
    pending = select(jobs.c.seq).where(jobs.c.status == PENDING, jobs.c.next_run_at <= now_s)
    expired = select(jobs.c.seq).where(jobs.c.status == RUNNING,
                                       jobs.c.claim_expires_at < now_s)
    picks = []
    for pick in (pending, expired):
        if recipe is not None:
            pick = pick.where(jobs.c.recipe == recipe)
        picks.append(pick.order_by(jobs.c.seq).limit(limit).with_for_update(skip_locked=True))
    return picks


async def due_recipes(conn: AsyncConnection, recipes: Sequence[str], now_s: float) -> set[str]:
    """Which of ``recipes`` have a job to claim now: a due pending job, or a running one
    whose claim expired. Two index walks per recipe over ``(recipe, status, seq)``,
    touching active jobs only, never a recipe's history."""
    found: set[str] = set()
    names = list(recipes)
    for start in range(0, len(names), 500):
        chunk = names[start:start + 500]
        pending = select(jobs.c.recipe).where(jobs.c.recipe.in_(chunk),
                                              jobs.c.status == PENDING,
                                              jobs.c.next_run_at <= now_s)
        expired = select(jobs.c.recipe).where(jobs.c.recipe.in_(chunk),
                                              jobs.c.status == RUNNING,
                                              jobs.c.claim_expires_at < now_s)
        found.update((await conn.execute(pending.union(expired))).scalars())
    return found


async def claim_jobs(
    conn: AsyncConnection,
    worker_id: str,
    recipe: str | None,
    limit: int,
    claim_ttl_s: float,
    now_s: float,
) -> list[Job]:
    """Claim up to ``limit`` due jobs (oldest first), pending or with an expired claim.

    On PostgreSQL the candidate rows are locked ``FOR UPDATE SKIP LOCKED`` so concurrent
    claimers pass each other by; SQLite's write lock (``BEGIN IMMEDIATE``) does the same.
    """
    found: list[int] = []
    for pick in _candidates(recipe, limit, now_s):
        found.extend((await conn.execute(pick)).scalars())
    seqs = sorted(found)[:limit]
    if not seqs:
        return []
    claimed = await conn.execute(
        update(jobs)
        # Re-checked so that a claim stays exclusive even if the lock was not taken.
        .where(jobs.c.seq.in_(seqs), _claimable(now_s))
        .values(
            status=RUNNING,
            claimed_by=worker_id,
            claim_expires_at=now_s + claim_ttl_s,
            attempts=jobs.c.attempts + 1,
            updated_at=now_s,
        )
        .returning(*jobs.c)
    )
    return sorted((job_from_row(row) for row in claimed), key=lambda job: job.seq)


def _held_by(job_id: str, worker_id: str | None) -> ColumnElement[bool]:
    """The job, and if ``worker_id`` is given, only while that worker's claim is current."""
    if worker_id is None:
        return jobs.c.id == job_id
    return and_(jobs.c.id == job_id, jobs.c.status == RUNNING, jobs.c.claimed_by == worker_id)


async def extend_claim(
    conn: AsyncConnection, job_id: str, worker_id: str, claim_ttl_s: float, now_s: float
) -> None:
    """Push the claim's expiry to ``now + claim_ttl_s``; raises ``ClaimLost`` if not held."""
    await _update_held(
        conn, job_id, worker_id, claim_expires_at=now_s + claim_ttl_s, updated_at=now_s
    )


async def extend_claims(conn: AsyncConnection, job_ids: Sequence[str], worker_id: str,
                        claim_ttl_s: float, now_s: float) -> int:
    """Push the expiry of the claims ``worker_id`` still holds among ``job_ids``; returns
    how many it still held (a lost claim is simply not extended)."""
    if not job_ids:
        return 0
    result = await conn.execute(
        update(jobs)
        .where(jobs.c.id.in_(list(job_ids)), jobs.c.status == RUNNING,
               jobs.c.claimed_by == worker_id)
        .values(claim_expires_at=now_s + claim_ttl_s, updated_at=now_s)
        .returning(jobs.c.seq)
    )
    return len(result.all())


async def finish_jobs(conn: AsyncConnection, outcomes: Sequence[JobOutcome], now_s: float) -> None:
    """Record how each job ended; raises ``ClaimLost`` (writing none) if a fenced one
    is no longer held by its worker."""
    for outcome in outcomes:
        if outcome.status not in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
            raise ValueError(f"job {outcome.job_id}: {outcome.status} is not a final status")
    await check_held(conn, [(o.job_id, o.worker_id) for o in outcomes if o.worker_id])
    if outcomes:
        # One executemany UPDATE for the whole batch: this is the throughput path.
        await conn.execute(
            update(jobs)
            .where(jobs.c.id == bindparam("b_id"))
            .values(status=bindparam("b_status"), error=bindparam("b_error"), **_released(now_s)),
            [{"b_id": o.job_id, "b_status": o.status.value, "b_error": o.error} for o in outcomes],
        )


async def check_held(conn: AsyncConnection, fenced: Sequence[tuple[str, str]]) -> None:
    """Raise ``ClaimLost`` for the first ``(job id, worker id)`` whose job is not running
    under that worker's claim. One query for the batch; the rows stay locked (PostgreSQL)
    or the write lock is held (SQLite) until the transaction ends, so the writes that
    follow are exact."""
    if not fenced:
        return
    rows = await conn.execute(
        select(jobs.c.id, jobs.c.claimed_by)
        .where(jobs.c.id.in_([job_id for job_id, _ in fenced]), jobs.c.status == RUNNING)
        .with_for_update()
    )
    holders = {job_id: holder for job_id, holder in rows}
    for job_id, worker_id in fenced:
        if holders.get(job_id) != worker_id:
            raise ClaimLost(job_id, worker_id)


def _released(now_s: float) -> dict[str, Any]:
    return {
        "claimed_by": None,
        "claim_expires_at": None,
        "finished_at": now_s,
        "updated_at": now_s,
    }


async def retry_job_later(
    conn: AsyncConnection,
    job_id: str,
    delay_s: float,
    error: str | None,
    now_s: float,
    worker_id: str | None = None,
) -> None:
    """Release the job back to pending, due again in ``delay_s`` seconds."""
    await _update_held(
        conn,
        job_id,
        worker_id,
        status=PENDING,
        next_run_at=now_s + delay_s,
        error=error,
        claimed_by=None,
        claim_expires_at=None,
        updated_at=now_s,
    )


async def release_claims(conn: AsyncConnection, worker_id: str, now_s: float) -> int:
    """Jobs still claimed by ``worker_id`` go back to pending at once (a restart of that
    worker, or a graceful stop, need not wait for the claims to expire)."""
    stmt = (
        update(jobs)
        .where(jobs.c.status == RUNNING, jobs.c.claimed_by == worker_id)
        .values(status=PENDING, claimed_by=None, claim_expires_at=None, updated_at=now_s)
    )
    return len((await conn.execute(stmt.returning(jobs.c.seq))).all())


async def retry_failed(
    conn: AsyncConnection, recipe: str | None, now_s: float, job_id: str | None = None
) -> int:
    """Make failed jobs (of one recipe, or one job) pending again; they resume after
    their completed steps."""
    stmt = update(jobs).where(jobs.c.status == FAILED)
    if recipe is not None:
        stmt = stmt.where(jobs.c.recipe == recipe)
    if job_id is not None:
        stmt = stmt.where(jobs.c.id == job_id)
    stmt = stmt.values(status=PENDING, next_run_at=now_s, finished_at=None, updated_at=now_s)
    return len((await conn.execute(stmt.returning(jobs.c.seq))).all())


async def _update_held(
    conn: AsyncConnection, job_id: str, worker_id: str | None, **values: Any
) -> None:
    result = await conn.execute(
        update(jobs).where(_held_by(job_id, worker_id)).values(**values).returning(jobs.c.seq)
    )
    if result.first() is None:
        raise ClaimLost(job_id, worker_id or "(any)")
