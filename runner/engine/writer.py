"""Group commit: step records and job outcomes from many concurrent jobs share one
transaction, so throughput does not cost durability.

A caller's ``write`` returns only once its rows are committed; meanwhile other jobs' rows
pile up and go in the next transaction. One transaction per flush instead of one per row
is what lets SQLite keep up with thousands of jobs per second.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from runner.store import JobOutcome, StepResult, Store


class GroupWriter:
    def __init__(self, store: Store, max_batch: int = 2000) -> None:
        self._store = store
        self._max_batch = max_batch
        self._queue: list[tuple[Sequence[StepResult], Sequence[JobOutcome], asyncio.Future[None]]]
        self._queue = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="group-writer")

    async def write(
        self, results: Sequence[StepResult] = (), outcomes: Sequence[JobOutcome] = ()
    ) -> None:
        """Return once ``results`` and ``outcomes`` are committed (raises if the commit failed)."""
        if not results and not outcomes:
            return
        self.start()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((results, outcomes, future))
        self._wake.set()
        await future

    async def close(self) -> None:
        """Flush what is queued, then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        await self._flush_all()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush_all()

    async def _flush_all(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            results = [r for rs, _, _ in batch for r in rs]
            outcomes = [o for _, os, _ in batch for o in os]
            try:
                await self._store.write_results(results, outcomes)
            except Exception as exc:  # every waiter learns its rows were not stored
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)
