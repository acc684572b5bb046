"""Polling one recipe's trigger: each page of events is stored as jobs together with the
page's cursor, in one transaction, so the cursor never moves past an unstored event."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

from connectors.base import (
    AuthError,
    ConnectorError,
    Event,
    Params,
    PollPage,
    RetryableError,
    StepContext,
    TriggerSpec,
)
from runner.ops.metrics import METRICS
from runner.recipes import Recipe
from runner.store import Batching, CommitResult, JobStatus, StaleEpoch, Store
from runner.store.outbox import PreparedEvents, prepare_keyed

# Pages waiting for (or in) their commit: enough that the store's writer never waits for a
# busy event loop to hand it the next page (two left it idle 10-80 ms per page).
MAX_QUEUED_PAGES = 4


@dataclass
class PollSummary:
    pages: int = 0
    events: int = 0
    new_jobs: int = 0
    duplicates: int = 0
    skipped: str | None = None  # why the poll did not run (back-pressure, paused …)
    error: str | None = None


async def prefetched(pages: AsyncIterator[PollPage]) -> AsyncIterator[PollPage]:
    """Fetch page N+1 while page N is being committed (the trigger's next request and the
    store's transaction overlap); the cursor order is unchanged."""
    iterator = aiter(pages)
    upcoming: asyncio.Future[PollPage | None] = asyncio.ensure_future(anext(iterator, None))
    try:
        while (page := await upcoming) is not None:
            upcoming = asyncio.ensure_future(anext(iterator, None))
            yield page
    finally:
        if not upcoming.done():
            upcoming.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await upcoming
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            await closer()


def event_payload(event: Event) -> dict[str, Any]:
    """What a job's ``trigger`` is: the payload ``prepared_events`` stores, as a dict."""
    return {"record": event.record, "kind": event.kind, "key": event.key}


def prepared_events(recipe: str, events: list[Event], *, force: bool = False,
                    batching: Batching | None = None) -> PreparedEvents:
    """A trigger page's events as the store takes them. Each ``Event`` is encoded as its
    fields (key, record, kind: ``event_payload``'s shape) with no dict made per row; this
    is the ingest hot path. ``force``: new jobs even for keys already stored; ``batching``:
    stored as batch members (``runner/store/batches.py``)."""
    return prepare_keyed(recipe, [event.key for event in events], events,
                         [True] * len(events) if force else None, batching)


def batching_of(recipe: Recipe) -> Batching | None:
    """How the recipe's events become jobs: None for one job per event."""
    trigger = recipe.trigger
    return Batching(trigger.batch_size, trigger.batch_wait_s) if trigger.batch_size > 1 \
        else None


class RecipePoller:
    def __init__(self, recipe: Recipe, spec: TriggerSpec, store: Store, connection: Any,
                 log: Any, on_new_jobs: Callable[[], None]) -> None:
        self.recipe = recipe
        self.spec = spec
        self.params: Params = spec.params.model_validate(recipe.trigger.params)
        self.store = store
        self.connection = connection
        self.log = log.bind(recipe=recipe.name)
        self.on_new_jobs = on_new_jobs
        self.paused_reason: str | None = None
        self.last_poll_at: float | None = None
        self.batching = batching_of(recipe)
        digest = spec.change_digest(self.params) if spec.change_digest else None
        self.digest: Callable[[Event], tuple[str, str]] | None = digest

    async def poll_once(self, expected_epoch: int | None = None) -> PollSummary:
        """Poll every page once. ``expected_epoch``: commit under this epoch (a lease's)
        instead of the one read with the cursor, so a lost lease writes nothing."""
        summary = PollSummary()
        if self.paused_reason:
            summary.skipped = self.paused_reason
            return summary
        if (await self.store.get_recipe_state(self.recipe.name)).enabled is False:
            summary.skipped = "disabled by operator"  # `recipe-runner recipes disable`
            return summary
        pending = (await self.store.count_jobs_by_status(self.recipe.name)).get(
            JobStatus.PENDING, 0)
        METRICS.queue_depth.labels(self.recipe.name).set(pending)  # sampled: no extra query
        if pending >= self.recipe.max_pending:
            summary.skipped = f"back-pressure: {pending} pending jobs"
            self.log.info("poll.skipped", reason=summary.skipped)
            return summary
        started = time.monotonic()
        try:
            try:
                await self._pages(summary, expected_epoch)
            finally:  # members stored by the pages that landed still make their batches
                await self.form_batches(summary)
        except StaleEpoch:
            summary.error = "another replica owns this recipe now"
        except AuthError as exc:
            summary.error = f"connection needs attention: {exc.message}"
        except RetryableError as exc:
            summary.error = f"temporary failure, next poll retries: {exc.message}"
        except ConnectorError as exc:
            summary.error = exc.message
        self.last_poll_at = time.time()
        await self._report(summary, started)
        return summary

    def prepared(self, events: list[Event]) -> PreparedEvents:
        """This recipe's events as the store takes them (as batch members if it batches;
        with digests of the watched columns if it has changed_columns)."""
        prepared = prepared_events(self.recipe.name, events, batching=self.batching)
        if self.digest is None:
            return prepared
        return replace(prepared, digests=[self.digest(event) for event in events])

    async def _pages(self, summary: PollSummary, expected_epoch: int | None = None) -> None:
        """Store every page: while page N commits (in the store's writer), page N+1 is
        fetched, decoded and encoded here and queued behind it (``MAX_QUEUED_PAGES``)."""
        cursor, epoch = await self.store.load_cursor(self.recipe.name)
        epoch = epoch if expected_epoch is None else expected_epoch
        if cursor is not None and "feed" in cursor:  # a feed serves it: only the feed polls
            raise ConnectorError(f"served by {cursor['feed']}; not polled on its own")
        ctx = StepContext(recipe=self.recipe.name, connection=self.connection, log=self.log)
        queued: deque[asyncio.Future[CommitResult]] = deque()
        async with self.store.page_commits(self.recipe.name, epoch) as commits:
            try:
                async for page in prefetched(self.spec.poll(self.params, cursor, ctx)):
                    events = self.prepared(page.events)
                    if len(queued) == MAX_QUEUED_PAGES:
                        self.count(summary, await queued.popleft())
                    queued.append(await commits.submit(events, page.cursor))
                while queued:
                    self.count(summary, await queued.popleft())
            finally:  # the trigger failed: the pages already queued still land
                for future in queued:
                    with contextlib.suppress(Exception):
                        self.count(summary, await future)

    async def form_batches(self, summary: PollSummary) -> None:
        """Batch members that filled a batch (or waited ``batch_wait``) become jobs; also
        those a crash left waiting, so this runs on every poll of a batching recipe."""
        if self.batching is None:
            return
        result = await self.store.store_batches(self.recipe.name, self.batching)
        summary.new_jobs += result.new_jobs
        if result.new_jobs:
            self.on_new_jobs()

    def count(self, summary: PollSummary, result: CommitResult) -> None:
        """Add one committed page to ``summary``; wake the worker for new jobs."""
        summary.pages += 1
        summary.events += result.new_jobs + result.duplicates + result.waiting
        summary.new_jobs += result.new_jobs
        summary.duplicates += result.duplicates
        if result.new_jobs:
            self.on_new_jobs()

    async def _report(self, summary: PollSummary, started: float) -> None:
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        await self.store.record_poll_outcome(self.recipe.name, summary.error)
        METRICS.observe_poll(self.recipe.name, summary)
        self.report_events(summary, duration_ms)

    def report_events(self, summary: PollSummary, duration_ms: float) -> None:
        """The poll's log line: a failure, or what it found (nothing found: no line)."""
        if summary.error:
            self.log.warning("poll.failed", error=summary.error, duration_ms=duration_ms)
        elif summary.events:
            self.log.info("poll.finished", pages=summary.pages, events=summary.events,
                          new_jobs=summary.new_jobs, duplicates=summary.duplicates,
                          duration_ms=duration_ms)
