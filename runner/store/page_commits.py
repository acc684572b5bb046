"""A poll's page commits, queued back to back.

Each page is its own transaction: its jobs and the cursor after it
(``outbox.commit_poll``). The poller submits page N+1 while page N commits. Pages are
applied strictly in order, and once one fails none after it is applied (they raise
``PageNotCommitted``), so the cursor never passes an unstored event.

On SQLite the commits go straight into the writer thread's queue
(``transactions.SyncTransactions``): the next page starts the moment the previous one
ends, instead of when the busy event loop gets round to noticing. While its commits are
queued the poll holds the process's writer lock; when other writers wait for it, the poll
lets its queue drain, releases the lock and queues up behind them. On PostgreSQL each page
is a task that waits for the previous one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from runner.store import outbox
from runner.store.outbox import PreparedEvents
from runner.store.records import CommitResult
from runner.store.transactions import SyncTransactions, WriterLock


class PageNotCommitted(Exception):
    """An earlier page of the same poll failed, so this one was not applied."""


class PageCommits:
    """Use as ``async with store.page_commits(recipe, epoch) as commits``; leaving waits
    for every submitted page."""

    def __init__(self, transactions: SyncTransactions, writers: WriterLock | None,
                 clock: Callable[[], float], recipe: str, epoch: int) -> None:
        self._transactions = transactions
        self._writers = writers
        self._clock = clock
        self._recipe = recipe
        self._epoch = epoch
        self._submitted: list[asyncio.Future[CommitResult]] = []
        self._failed = False  # set in the writer thread (SQLite) or a task (PostgreSQL)
        self._queued = 0
        self._holding = False

    async def __aenter__(self) -> PageCommits:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await asyncio.gather(*self._submitted, return_exceptions=True)

    async def submit(self, events: PreparedEvents,
                     cursor: dict[str, Any]) -> asyncio.Future[CommitResult]:
        """Queue ``events`` with ``cursor``; the future holds the page's result."""
        if not self._transactions.threaded:
            previous = self._submitted[-1] if self._submitted else None
            future: asyncio.Future[CommitResult] = asyncio.ensure_future(
                self._after(previous, events, cursor))
        else:
            await self._take_turn()
            now_s = self._clock()
            future = self._transactions.submit(lambda conn: self._apply(conn, events, cursor,
                                                                        now_s))
            self._queued += 1
            future.add_done_callback(self._dequeued)
        self._submitted.append(future)
        return future

    async def _take_turn(self) -> None:
        assert self._writers is not None
        if self._holding and self._writers.waiting:  # step aside for the others
            await asyncio.gather(self._submitted[-1], return_exceptions=True)
        if not self._holding:
            await self._writers.acquire()
            self._holding = True

    def _dequeued(self, _future: asyncio.Future[CommitResult]) -> None:
        self._queued -= 1
        if self._queued == 0 and self._holding:
            assert self._writers is not None
            self._holding = False
            self._writers.release()

    def _apply(self, conn: Connection, events: PreparedEvents, cursor: dict[str, Any],
               now_s: float) -> CommitResult:
        if self._failed:
            raise PageNotCommitted(self._recipe)
        try:
            return outbox.commit_poll(conn, self._recipe, events, cursor, self._epoch, now_s)
        except BaseException:
            self._failed = True
            raise

    async def _after(self, previous: asyncio.Future[CommitResult] | None,
                     events: PreparedEvents, cursor: dict[str, Any]) -> CommitResult:
        if previous is not None:
            try:
                await previous
            except BaseException:
                self._failed = True
        if self._failed:
            raise PageNotCommitted(self._recipe)
        now_s = self._clock()
        return await self._transactions.run(
            lambda conn: self._apply(conn, events, cursor, now_s))
