"""The outbox: one poll page's jobs and the trigger's advanced cursor, in one transaction.

Job ids are deterministic: ``uuid5(recipe, event_key, replay)``. The same event seen by
two replicas (or polled twice) yields the same id and the same ``(recipe, event_key,
replay)`` key, so it is stored once; a forced replay takes the next ``replay`` number.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from runner.store._sql import dumps, insert_for
from runner.store.cursors import advance_cursor
from runner.store.records import CommitResult, JobStatus, NewEvent
from runner.store.schema import jobs

_JOB_ID_NAMESPACE = uuid.UUID("0b9e4c52-4f0a-4d8e-9a43-6f1f6d2f7c11")


def job_id_for(recipe: str, event_key: str, replay: int = 0) -> str:
    """The deterministic id of the job for ``event_key`` of ``recipe`` (its ``replay``-th)."""
    return str(uuid.uuid5(_JOB_ID_NAMESPACE, f"{recipe}\x00{event_key}\x00{replay}"))


async def commit_poll(
    conn: AsyncConnection,
    recipe: str,
    events: Sequence[NewEvent],
    cursor: dict[str, Any],
    expected_epoch: int,
    now_s: float,
) -> CommitResult:
    """Advance the cursor (epoch-fenced) and store ``events`` as pending jobs, skipping
    events already stored. The caller's transaction makes the two atomic."""
    await advance_cursor(conn, recipe, cursor, expected_epoch, now_s)
    if not events:
        return CommitResult(new_job_ids=(), duplicates=0)
    replays = await _replay_numbers(conn, recipe, events)
    rows = [
        _job_row(recipe, event, replay, now_s)
        for event, replay in zip(events, replays, strict=True)
    ]
    stmt = (
        insert_for(conn, jobs)
        .on_conflict_do_nothing(index_elements=["recipe", "event_key", "replay"])
        .returning(jobs.c.id)
    )
    # executemany with RETURNING: SQLAlchemy batches this into multi-row INSERTs.
    inserted = set((await conn.execute(stmt, rows)).scalars())
    new_ids = tuple(dict.fromkeys(row["id"] for row in rows if row["id"] in inserted))
    return CommitResult(new_job_ids=new_ids, duplicates=len(events) - len(new_ids))


def _job_row(recipe: str, event: NewEvent, replay: int, now_s: float) -> dict[str, Any]:
    return {
        "id": job_id_for(recipe, event.key, replay),
        "recipe": recipe,
        "event_key": event.key,
        "replay": replay,
        "status": JobStatus.PENDING.value,
        "payload": dumps(event.payload),
        "attempts": 0,
        "created_at": now_s,
        "updated_at": now_s,
        "next_run_at": now_s,
    }


async def _replay_numbers(
    conn: AsyncConnection, recipe: str, events: Sequence[NewEvent]
) -> list[int]:
    """0 for ordinary events; for forced ones, one past the highest replay stored so far."""
    forced = {event.key for event in events if event.force}
    if not forced:
        return [0] * len(events)
    latest = await _latest_replays(conn, recipe, forced)
    numbers: list[int] = []
    for event in events:
        if event.force:
            latest[event.key] = latest.get(event.key, -1) + 1
            numbers.append(latest[event.key])
        else:
            numbers.append(0)
    return numbers


async def _latest_replays(conn: AsyncConnection, recipe: str, keys: set[str]) -> dict[str, int]:
    rows = await conn.execute(
        select(jobs.c.event_key, func.max(jobs.c.replay))
        .where(jobs.c.recipe == recipe, jobs.c.event_key.in_(keys))
        .group_by(jobs.c.event_key)
    )
    return {key: replay for key, replay in rows}
