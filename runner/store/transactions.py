"""Write transactions: the in-process writer queue, and synchronous functions run as one
transaction whatever the database.

SQLite has one writer at a time. A second ``BEGIN IMMEDIATE`` from this process would
wait in SQLite's busy handler, which sleeps in steps of up to 100 ms; queueing the
writers in :class:`WriterLock` hands the lock over at once (other processes still use
``busy_timeout``).

The outbox's commits (a poll page's jobs plus the cursor) are the ingest hot path. Through
the async driver each statement of a transaction is one round trip between the event loop
and the driver's thread, and on a busy loop (decoding the next page) every round trip waits
for the loop: a 5,000-row page took four times as long to commit as SQLite needs. So on
SQLite the whole transaction runs in one dedicated thread on a synchronous connection to
the same file (:class:`SyncTransactions`): one hand-over there and one back. On PostgreSQL
the same function runs through the async connection (``run_sync``). Either way it is the
same SQLAlchemy Core code (``cursors.advance_cursor``, ``outbox.insert_events``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from runner.store.checkpointer import WalCheckpointer
from runner.store.engine import sqlite_sync_engine

T = TypeVar("T")


class WriterLock:
    """A FIFO lock for this process's writers (bound to the running loop), which also
    says how many are waiting for it, so a long holder can step aside."""

    def __init__(self) -> None:
        self._lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self.waiting = 0

    def _current(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock[0] is not loop:
            self._lock = (loop, asyncio.Lock())
        return self._lock[1]

    async def acquire(self) -> None:
        self.waiting += 1
        try:
            await self._current().acquire()
        finally:
            self.waiting -= 1

    def release(self) -> None:
        self._current().release()

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()


class SyncTransactions:
    """``fn(conn)`` inside ``BEGIN … COMMIT`` (rolled back if it raises). Callers hold the
    writer lock on SQLite."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sync: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._checkpointer: WalCheckpointer | None = None
        if engine.dialect.name == "sqlite":
            self._sync = sqlite_sync_engine(engine)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
            assert engine.url.database is not None
            self._checkpointer = WalCheckpointer(Path(engine.url.database))

    @property
    def threaded(self) -> bool:
        """True on SQLite: :meth:`submit` queues to one thread, which runs them in order."""
        return self._thread is not None

    async def run(self, fn: Callable[[Connection], T]) -> T:
        if not self.threaded:
            async with self._engine.begin() as conn:
                return await conn.run_sync(fn)
        return await self.submit(fn)

    def submit(self, fn: Callable[[Connection], T]) -> asyncio.Future[T]:
        """SQLite only: queue ``fn`` behind the transactions already queued."""
        assert self._sync is not None and self._thread is not None
        sync, checkpointer = self._sync, self._checkpointer

        def transaction() -> T:
            with sync.begin() as conn:
                result = fn(conn)
            if checkpointer is not None:
                checkpointer.nudge()
            return result

        return asyncio.get_running_loop().run_in_executor(self._thread, transaction)

    async def close(self) -> None:
        if self._sync is None or self._thread is None:
            return
        await asyncio.get_running_loop().run_in_executor(self._thread, self._sync.dispose)
        self._thread.shutdown(wait=True)
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.close)
