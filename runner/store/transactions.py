"""Run a synchronous function as one write transaction, whatever the database.

The outbox's commits (a poll page's jobs plus the cursor) are the ingest hot path. Through
the async driver each statement of a transaction is one round trip between the event loop
and the driver's thread, and on a busy loop (decoding the next page) every round trip waits
for the loop: a 5,000-row page took four times as long to commit as SQLite needs. So on
SQLite the whole transaction runs in one dedicated thread on a synchronous connection to
the same file: one hand-over there and one back. On PostgreSQL the same function runs
through the async connection (``run_sync``). Either way the function is the same
SQLAlchemy Core code (``cursors.advance_cursor``, ``outbox.insert_events``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from runner.store.engine import sqlite_sync_engine

T = TypeVar("T")


class SyncTransactions:
    """``await run(fn)``: ``fn(conn)`` inside ``BEGIN … COMMIT`` (rolled back if it raises).
    Callers serialise SQLite writers themselves (the store's writer lock)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sync: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite":
            self._sync = sqlite_sync_engine(engine)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

    async def run(self, fn: Callable[[Connection], T]) -> T:
        if self._sync is None or self._thread is None:
            async with self._engine.begin() as conn:
                return await conn.run_sync(fn)
        sync = self._sync

        def transaction() -> T:
            with sync.begin() as conn:
                return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self._thread, transaction)

    async def close(self) -> None:
        if self._sync is None or self._thread is None:
            return
        await asyncio.get_running_loop().run_in_executor(self._thread, self._sync.dispose)
        self._thread.shutdown(wait=True)
