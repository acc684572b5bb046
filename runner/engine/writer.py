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

import structlog

from runner.store import ClaimLost, JobOutcome, StepResult, Store

Held = tuple[str, str]  # (job id, worker id): a claim that must still hold
Entry = tuple[Sequence[StepResult], Sequence[JobOutcome], Held | None, "asyncio.Future[None]"]
log = structlog.get_logger("recipe-runner")


class GroupWriter:
    def __init__(self, store: Store, max_batch: int = 2000) -> None:
        self._store = store
        self._max_batch = max_batch
        self._queue: list[Entry] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="group-writer")

    async def write(
        self, results: Sequence[StepResult] = (), outcomes: Sequence[JobOutcome] = (),
        *, held: Held | None = None,
    ) -> None:
        """Return once ``results`` and ``outcomes`` are committed (raises if the commit
        failed). ``held``: store them only while that job is still claimed by that worker,
        else raise ``ClaimLost`` (outcomes with a worker id are fenced the same way)."""
        if not results and not outcomes:
            return
        self.start()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((results, outcomes, held, future))
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
            try:
                batch = await self._write(batch)
            except Exception as exc:  # every waiter learns its rows were not stored
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for *_, future in batch:
                if not future.done():
                    future.set_result(None)

    async def _write(self, batch: list[Entry]) -> list[Entry]:
        """Commit ``batch``; a job whose claim was lost (another worker has it now) is
        dropped with its steps, its waiter gets ``ClaimLost``, and the rest is written."""
        while batch:
            results = [r for rs, *_ in batch for r in rs]
            outcomes = [o for _, os, *_ in batch for o in os]
            held = [h for _, _, h, _ in batch if h is not None]
            try:
                await self._store.write_results(results, outcomes, held)
                return batch
            except ClaimLost as lost:
                log.warning("job.claim_lost", job=lost.job_id, worker=lost.worker_id)
                remaining = _without(batch, lost)
                if len(remaining) == len(batch):
                    raise  # not one of ours: never loop on it
                batch = remaining
        return batch


def _without(batch: list[Entry], lost: ClaimLost) -> list[Entry]:
    kept: list[Entry] = []
    for results, outcomes, held, future in batch:
        if any(o.job_id == lost.job_id for o in outcomes) or \
                (held is not None and held[0] == lost.job_id):
            if not future.done():
                future.set_exception(lost)
            continue
        kept.append(([r for r in results if r.job_id != lost.job_id], outcomes, held, future))
    return kept
