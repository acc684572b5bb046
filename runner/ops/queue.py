"""Read-only queries for the status page, ``/readyz`` and ``/metrics`` sampling: one
grouped query gives every recipe's job counts and the age of its oldest pending job."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from runner.store import JobStatus, Store
from runner.store.engine import READ_ONLY
from runner.store.schema import jobs


@dataclass(frozen=True)
class QueueStats:
    """One recipe's jobs: how many in each status, and the oldest pending one's age."""

    counts: dict[JobStatus, int] = field(default_factory=lambda: dict.fromkeys(JobStatus, 0))
    lag_s: float = 0.0

    @property
    def pending(self) -> int:
        return self.counts[JobStatus.PENDING]

    @property
    def failed(self) -> int:
        return self.counts[JobStatus.FAILED]


@asynccontextmanager
async def _reading(store: Store) -> AsyncIterator[AsyncConnection]:
    async with store.engine.connect() as conn:
        await conn.execution_options(**{READ_ONLY: True})  # SQLite: no write lock
        async with conn.begin():
            yield conn


async def queue_stats(store: Store, now_s: float | None = None) -> dict[str, QueueStats]:
    """Every recipe with jobs → its :class:`QueueStats`."""
    now_s = time.time() if now_s is None else now_s
    stmt = select(jobs.c.recipe, jobs.c.status, func.count(), func.min(jobs.c.created_at)
                  ).group_by(jobs.c.recipe, jobs.c.status)
    found: dict[str, QueueStats] = {}
    async with _reading(store) as conn:
        rows = (await conn.execute(stmt)).all()
    for recipe, status, count, oldest in rows:
        stats = found.setdefault(recipe, QueueStats())
        stats.counts[JobStatus(status)] = count
        if status == JobStatus.PENDING.value and oldest is not None:
            found[recipe] = QueueStats(stats.counts, max(0.0, now_s - oldest))
    return found


async def store_reachable(store: Store, timeout_s: float = 2.0) -> str | None:
    """``None`` if the store answers a trivial query within ``timeout_s``; else why not."""
    try:
        async with asyncio.timeout(timeout_s), _reading(store) as conn:
            await conn.execute(text("SELECT 1"))
    except TimeoutError:
        return f"state store did not answer within {timeout_s:g}s"
    except Exception as exc:
        return f"state store unreachable: {exc.__class__.__name__}"
    return None
