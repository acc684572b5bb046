"""Each step's result, recorded as it finishes, so an interrupted job resumes at the
interrupted step and completed steps never run again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from runner.store._sql import dumps, insert_for, loads
from runner.store.records import COMPLETED_STEP_STATUSES, StepRecord, StepResult, StepStatus
from runner.store.schema import job_steps

_COMPLETED = [status.value for status in COMPLETED_STEP_STATUSES]


async def record_steps(conn: AsyncConnection, results: Sequence[StepResult], now_s: float) -> None:
    """Upsert each step's state (one statement for the batch). A step keeps its first
    ``started_at``; ``finished_at`` is set when it leaves ``running``."""
    if not results:
        return
    stmt = insert_for(conn, job_steps)
    stmt = stmt.on_conflict_do_update(
        index_elements=[job_steps.c.job_id, job_steps.c.path],
        set_={
            name: stmt.excluded[name]
            for name in ("status", "input", "output", "error", "attempts", "finished_at")
        },
    )
    # PostgreSQL refuses to upsert one row twice in a statement: the last result wins.
    latest = {(result.job_id, result.path): result for result in results}
    await conn.execute(stmt, [_step_row(result, now_s) for result in latest.values()])


def _step_row(result: StepResult, now_s: float) -> dict[str, Any]:
    finished = result.status is not StepStatus.RUNNING
    return {
        "job_id": result.job_id,
        "path": result.path,
        "status": result.status.value,
        "input": dumps(result.input),
        "output": dumps(result.output),
        "error": result.error,
        "attempts": result.attempts,
        "started_at": now_s,
        "finished_at": now_s if finished else None,
    }


async def completed_steps(conn: AsyncConnection, job_id: str) -> dict[str, Any]:
    """``{step path: output}`` of the job's succeeded or skipped steps."""
    rows = await conn.execute(
        select(job_steps.c.path, job_steps.c.output).where(
            job_steps.c.job_id == job_id, job_steps.c.status.in_(_COMPLETED)
        )
    )
    return {path: loads(output) for path, output in rows}


async def steps_of(conn: AsyncConnection, job_id: str) -> tuple[StepRecord, ...]:
    """All recorded steps of the job, in the order they started."""
    rows = await conn.execute(
        select(job_steps)
        .where(job_steps.c.job_id == job_id)
        .order_by(job_steps.c.started_at, job_steps.c.path)
    )
    return tuple(_step_from_row(row._asdict()) for row in rows)


def _step_from_row(values: dict[str, Any]) -> StepRecord:
    values["status"] = StepStatus(values["status"])
    values["input"] = loads(values["input"])
    values["output"] = loads(values["output"])
    return StepRecord(**values)
