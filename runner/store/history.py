"""Operator queries over jobs, and pruning of finished history."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from runner.store.jobs import job_from_row
from runner.store.records import FINISHED_STATUSES, Job, JobDetail, JobStatus
from runner.store.schema import jobs
from runner.store.steps import steps_of

_FINISHED = [status.value for status in FINISHED_STATUSES]


async def list_jobs(
    conn: AsyncConnection, recipe: str | None, status: JobStatus | None, limit: int
) -> list[Job]:
    """The newest ``limit`` jobs, optionally of one recipe and/or one status."""
    stmt = select(jobs).order_by(jobs.c.seq.desc()).limit(limit)
    if recipe is not None:
        stmt = stmt.where(jobs.c.recipe == recipe)
    if status is not None:
        stmt = stmt.where(jobs.c.status == status.value)
    return [job_from_row(row) for row in await conn.execute(stmt)]


async def get_job(conn: AsyncConnection, job_id: str) -> JobDetail | None:
    """The job with its recorded steps, or ``None`` if there is no such job."""
    row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).first()
    if row is None:
        return None
    return JobDetail(job=job_from_row(row), steps=await steps_of(conn, job_id))


async def count_jobs_by_status(conn: AsyncConnection, recipe: str | None) -> dict[JobStatus, int]:
    """How many jobs are in each status (every status present, zero if none)."""
    stmt = select(jobs.c.status, func.count()).group_by(jobs.c.status)
    if recipe is not None:
        stmt = stmt.where(jobs.c.recipe == recipe)
    counts = dict.fromkeys(JobStatus, 0)
    for status, count in await conn.execute(stmt):
        counts[JobStatus(status)] = count
    return counts


async def pending_counts(conn: AsyncConnection, names: Sequence[str]) -> dict[str, int]:
    """Pending jobs per recipe, for the recipes among ``names`` that have any."""
    rows = await conn.execute(
        select(jobs.c.recipe, func.count()).where(
            jobs.c.recipe.in_(list(names)), jobs.c.status == JobStatus.PENDING.value)
        .group_by(jobs.c.recipe))
    return {recipe: count for recipe, count in rows}


async def prune_history(
    conn: AsyncConnection, keep_last_n: int, older_than_s: float, now_s: float
) -> int:
    """Delete finished jobs (and their steps) that are both beyond the newest
    ``keep_last_n`` finished jobs of their recipe and finished more than ``older_than_s``
    ago. Pending and running jobs are never pruned. Returns how many jobs went."""
    rank = (
        func.row_number()
        .over(partition_by=jobs.c.recipe, order_by=[jobs.c.finished_at.desc(), jobs.c.seq.desc()])
        .label("rank")
    )
    ranked = (
        select(jobs.c.seq, jobs.c.finished_at, rank).where(jobs.c.status.in_(_FINISHED)).subquery()
    )
    doomed = select(ranked.c.seq).where(
        ranked.c.rank > keep_last_n, ranked.c.finished_at < now_s - older_than_s
    )
    stmt = (
        delete(jobs)
        .where(jobs.c.seq.in_(doomed), jobs.c.status.in_(_FINISHED))
        .returning(jobs.c.seq)
    )
    return len((await conn.execute(stmt)).all())
