"""``Store``: the daemon's durable state behind one object; each call is one short
transaction. The SQL lives in the topic modules (outbox, cursors, jobs, steps, history,
tokens, recipes); this class owns the engine, the clock and the transactions."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from runner.store import (
    backfills,
    cursors,
    feeds,
    history,
    jobs,
    outbox,
    recipes,
    steps,
    tokens,
)
from runner.store.batches import Batching
from runner.store.engine import READ_ONLY, create_private, create_store_engine, sqlite_file
from runner.store.feeds import FeedState, MemberCursor
from runner.store.migrations import migrate
from runner.store.outbox import PreparedEvents
from runner.store.page_commits import PageCommits
from runner.store.records import (
    CommitResult,
    ConnectionState,
    ConnectionStatus,
    Job,
    JobDetail,
    JobOutcome,
    JobStatus,
    NewEvent,
    RecipeState,
    StepResult,
    StepStatus,
    TokenCache,
)
from runner.store.transactions import SyncTransactions, WriterLock

Clock = Callable[[], float]
T = TypeVar("T")


class Store:
    """Open with ``await Store.open(url)``; ``clock`` returns UNIX seconds (tests pass
    their own to expire claims without sleeping)."""

    def __init__(self, engine: AsyncEngine, clock: Clock = time.time) -> None:
        self.engine = engine
        self._clock = clock
        self._queue_writers = engine.dialect.name == "sqlite"  # see transactions.py
        self._writers = WriterLock()
        self._transactions = SyncTransactions(engine)

    @classmethod
    async def open(cls, url: str, *, schema: str | None = None, clock: Clock = time.time) -> Store:
        """Connect to ``url`` (see ``engine.normalize_url``) and apply pending migrations;
        a SQLite file and its folder are created if missing, readable by this user only."""
        database = sqlite_file(url)
        if database is not None:
            create_private(database)
        engine = create_store_engine(url, schema=schema)
        try:
            await migrate(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, clock)

    async def close(self) -> None:
        await self._transactions.close()
        await self.engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if not self._queue_writers:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._writers.held(), self.engine.begin() as conn:
            yield conn

    async def _write_sync(self, fn: Callable[[Connection], T]) -> T:
        """``fn`` as one write transaction run whole (see ``transactions.py``)."""
        if not self._queue_writers:
            return await self._transactions.run(fn)
        async with self._writers.held():
            return await self._transactions.run(fn)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            await conn.execution_options(**{READ_ONLY: True})
            async with conn.begin():
                yield conn

    # -- polling: cursors and the outbox -------------------------------------------

    async def commit_poll(
        self,
        recipe: str,
        events: Sequence[NewEvent] | PreparedEvents,
        cursor: dict[str, Any],
        expected_epoch: int,
    ) -> CommitResult:
        """Atomically store ``events`` as pending jobs (skipping known ones) and advance
        the cursor; raises ``StaleEpoch`` and writes nothing if the epoch moved on."""
        if not isinstance(events, PreparedEvents):  # CPU work, outside the write lock
            events = outbox.prepare_events(recipe, events)
        now_s = self._clock()
        return await self._write_sync(lambda conn: outbox.commit_poll(
            conn, recipe, events, cursor, expected_epoch, now_s))

    def page_commits(self, recipe: str, expected_epoch: int) -> PageCommits:
        """A poll's pages committed back to back, in order (see ``page_commits.py``)."""
        writers = self._writers if self._queue_writers else None
        return PageCommits(self._transactions, writers, self._clock, recipe, expected_epoch)

    async def store_events(
        self, recipe: str, events: Sequence[NewEvent] | PreparedEvents
    ) -> CommitResult:
        """Store ``events`` as pending jobs (skipping known ones unless forced) without
        touching the cursor: a backfill re-reading a range beside the live poller."""
        if not isinstance(events, PreparedEvents):
            events = outbox.prepare_events(recipe, events)
        now_s = self._clock()
        return await self._write_sync(
            lambda conn: outbox.store_events(conn, recipe, events, now_s))

    async def store_batches(self, recipe: str, batching: Batching, *,
                            flush: bool = False) -> CommitResult:
        """Make jobs of the recipe's waiting batch members (``outbox.store_batches``)."""
        now_s = self._clock()
        return await self._write_sync(lambda conn: outbox.store_batches(
            conn, recipe, batching, now_s, flush=flush))

    # -- table feeds (``feeds.py``) -------------------------------------------------

    async def load_feed(self, feed_id: str, members: Sequence[str]
                        ) -> tuple[FeedState, dict[str, MemberCursor]]:
        """The feed's state, and the cursor rows of ``members`` that exist."""
        async with self._read() as conn:
            rows = await conn.run_sync(lambda c: feeds.cursor_rows(c, [feed_id, *members]))
        state = feeds.feed_state(rows.pop(feed_id, None))
        return state, {name: MemberCursor(*row) for name, row in rows.items()}

    async def commit_feed_page(self, feed_id: str, state: FeedState,
                               deliveries: Mapping[str, PreparedEvents]
                               ) -> dict[str, CommitResult]:
        """The feed's cursor and every member's jobs, in one transaction (fenced by the
        feed's epoch: ``StaleEpoch`` writes nothing)."""
        now_s = self._clock()
        return await self._write_sync(
            lambda conn: feeds.commit_page(conn, feed_id, state, deliveries, now_s))

    async def store_pushed(self, deliveries: Mapping[str, PreparedEvents]
                           ) -> dict[str, CommitResult]:
        """A push delivery's events as each member's jobs (``feeds.store_pushed``)."""
        now_s = self._clock()
        return await self._write_sync(
            lambda conn: feeds.store_pushed(conn, deliveries, now_s))

    async def join_feed(self, feed_id: str, state: FeedState,
                        joining: Mapping[str, tuple[MemberCursor, str | None]]) -> FeedState:
        """``joining`` (recipe -> its row and floor) served by the feed from now on."""
        now_s = self._clock()
        return await self._write_sync(
            lambda conn: feeds.join(conn, feed_id, state, joining, now_s))

    async def leave_feed(self, feed_id: str, state: FeedState,
                         leaving: Mapping[str, MemberCursor]) -> FeedState:
        now_s = self._clock()
        return await self._write_sync(
            lambda conn: feeds.leave(conn, feed_id, state, leaving, now_s))

    async def feeds_in_store(self) -> dict[str, FeedState]:
        """Every feed's state, by id (to settle members no longer served at start-up)."""
        async with self._read() as conn:
            rows = await conn.run_sync(feeds.feed_rows)
        return {feed_id: feeds.feed_state(row) for feed_id, row in rows.items()}

    async def enabled_overrides(self, names: Sequence[str]) -> dict[str, bool | None]:
        """Each recipe's operator switch (absent: none)."""
        async with self._read() as conn:
            return await recipes.enabled_overrides(conn, names)

    async def pending_counts(self, names: Sequence[str]) -> dict[str, int]:
        """Pending jobs of each recipe that has some."""
        async with self._read() as conn:
            return await history.pending_counts(conn, names)

    async def record_poll_outcomes(self, names: Sequence[str], error: str | None) -> None:
        """``record_poll_outcome`` for many recipes at once (a feed's members)."""
        now_s = self._clock()
        async with self._write() as conn:
            await recipes.record_poll_outcomes(conn, names, error, now_s)

    async def load_cursor(self, recipe: str) -> tuple[dict[str, Any] | None, int]:
        """``(cursor, epoch)``; ``(None, 0)`` for a recipe never committed."""
        async with self._read() as conn:
            return await cursors.load_cursor(conn, recipe)

    async def bump_epoch(self, recipe: str) -> int:
        """Take the recipe over: returns the new epoch, fencing off the previous owner."""
        async with self._write() as conn:
            return await cursors.bump_epoch(conn, recipe, self._clock())

    # -- workers: jobs and steps ----------------------------------------------------

    async def claim_jobs(
        self, worker_id: str, recipe: str | None, limit: int, claim_ttl_s: float
    ) -> list[Job]:
        """Claim up to ``limit`` due jobs, oldest first (see ``jobs.claim_jobs``)."""
        async with self._write() as conn:
            return await jobs.claim_jobs(conn, worker_id, recipe, limit, claim_ttl_s, self._clock())

    async def due_recipes(self, recipes: Sequence[str]) -> set[str]:
        """Which of ``recipes`` have a job to claim now (``jobs.due_recipes``)."""
        async with self._read() as conn:
            return await jobs.due_recipes(conn, recipes, self._clock())

    async def extend_claim(self, job_id: str, worker_id: str, claim_ttl_s: float) -> None:
        async with self._write() as conn:
            await jobs.extend_claim(conn, job_id, worker_id, claim_ttl_s, self._clock())

    async def extend_claims(self, job_ids: Sequence[str], worker_id: str,
                            claim_ttl_s: float) -> int:
        """Keep the claims of jobs still running (one statement for all of them)."""
        async with self._write() as conn:
            return await jobs.extend_claims(conn, job_ids, worker_id, claim_ttl_s, self._clock())

    async def record_step(
        self,
        job_id: str,
        step_path: str,
        status: StepStatus,
        input: Any = None,
        output: Any = None,
        error: str | None = None,
        attempts: int = 1,
    ) -> None:
        """Upsert one step's state (``input``/``output``: JSON values, capped by the caller)."""
        result = StepResult(job_id, step_path, status, input, output, error, attempts)
        await self.record_steps([result])

    async def record_steps(self, results: Sequence[StepResult]) -> None:
        async with self._write() as conn:
            await steps.record_steps(conn, results, self._clock())

    async def completed_steps(self, job_id: str) -> dict[str, Any]:
        """``{step path: output}`` of steps that must not run again when the job resumes."""
        async with self._read() as conn:
            return await steps.completed_steps(conn, job_id)

    async def finish_job(
        self,
        job_id: str,
        status: JobStatus,
        error: str | None = None,
        *,
        worker_id: str | None = None,
    ) -> None:
        await self.finish_jobs([JobOutcome(job_id, status, error, worker_id)])

    async def finish_jobs(self, outcomes: Sequence[JobOutcome]) -> None:
        """Finish many jobs in one transaction (all or none)."""
        async with self._write() as conn:
            await jobs.finish_jobs(conn, outcomes, self._clock())

    async def finish_steps_and_job(
        self, results: Sequence[StepResult], outcome: JobOutcome
    ) -> None:
        """Record the last steps and finish the job in one transaction."""
        async with self._write() as conn:
            await steps.record_steps(conn, results, self._clock())
            await jobs.finish_jobs(conn, [outcome], self._clock())

    async def write_results(
        self, results: Sequence[StepResult], outcomes: Sequence[JobOutcome],
        held: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Record steps of many jobs and finish some jobs, in one transaction (group commit).
        ``held``: ``(job id, worker id)`` claims that must still hold, else ``ClaimLost``
        and nothing is written (outcomes with a worker id are checked as well)."""
        async with self._write() as conn:
            await jobs.check_held(conn, held)
            await steps.record_steps(conn, results, self._clock())
            await jobs.finish_jobs(conn, outcomes, self._clock())

    async def release_claims(self, worker_id: str) -> int:
        """Put jobs still claimed by ``worker_id`` back to pending; returns how many."""
        async with self._write() as conn:
            return await jobs.release_claims(conn, worker_id, self._clock())

    async def retry_job_later(
        self, job_id: str, delay_s: float, error: str | None, *, worker_id: str | None = None
    ) -> None:
        async with self._write() as conn:
            await jobs.retry_job_later(conn, job_id, delay_s, error, self._clock(), worker_id)

    async def retry_failed(self, recipe: str | None = None, job_id: str | None = None) -> int:
        """Failed jobs (of ``recipe``, or the one ``job_id``) become pending again."""
        async with self._write() as conn:
            return await jobs.retry_failed(conn, recipe, self._clock(), job_id)

    # -- operators ------------------------------------------------------------------

    async def list_jobs(
        self, recipe: str | None = None, status: JobStatus | None = None, limit: int = 100
    ) -> list[Job]:
        async with self._read() as conn:
            return await history.list_jobs(conn, recipe, status, limit)

    async def get_job(self, job_id: str) -> JobDetail | None:
        async with self._read() as conn:
            return await history.get_job(conn, job_id)

    async def count_jobs_by_status(self, recipe: str | None = None) -> dict[JobStatus, int]:
        async with self._read() as conn:
            return await history.count_jobs_by_status(conn, recipe)

    async def prune_history(self, keep_last_n: int, older_than_s: float) -> int:
        """Delete old finished jobs (see ``history.prune_history``); never pending/running."""
        async with self._write() as conn:
            return await history.prune_history(conn, keep_last_n, older_than_s, self._clock())

    async def get_recipe_state(self, recipe: str) -> RecipeState:
        async with self._read() as conn:
            return await recipes.get_recipe_state(conn, recipe)

    async def get_recipe_states(self, names: Sequence[str]) -> dict[str, RecipeState]:
        """The state of each of ``names`` (one read, for pages listing every recipe)."""
        async with self._read() as conn:
            return await recipes.get_recipe_states(conn, names)

    async def set_recipe_enabled(self, recipe: str, enabled: bool | None) -> None:
        async with self._write() as conn:
            await recipes.set_recipe_enabled(conn, recipe, enabled, self._clock())

    async def set_file_problem(self, recipe: str, problem: str | None) -> None:
        """See ``recipes.set_file_problem``."""
        async with self._write() as conn:
            await recipes.set_file_problem(conn, recipe, problem, self._clock())

    # -- backfills handed to the daemon (see backfills.py) ------------------------------

    async def request_backfill(self, recipe: str, body: dict[str, Any]) -> bool:
        async with self._write() as conn:
            return await backfills.request(conn, recipe, body, self._clock())

    async def pending_backfills(self) -> dict[str, dict[str, Any]]:
        async with self._read() as conn:
            return await backfills.pending(conn)

    async def take_backfill(self, recipe: str, body: dict[str, Any]) -> bool:
        async with self._write() as conn:
            return await backfills.take(conn, recipe, body, self._clock())

    async def finish_backfill(self, recipe: str, outcome: dict[str, Any]) -> None:
        async with self._write() as conn:
            await backfills.finish(conn, recipe, outcome, self._clock())

    async def backfill_result(self, recipe: str) -> dict[str, Any] | None:
        async with self._read() as conn:
            return await backfills.result(conn, recipe)

    async def record_poll_outcome(self, recipe: str, error: str | None = None) -> None:
        async with self._write() as conn:
            await recipes.record_poll_outcome(conn, recipe, error, self._clock())

    # -- connections ----------------------------------------------------------------

    async def load_token_cache(self, connection: str) -> TokenCache | None:
        async with self._read() as conn:
            return await tokens.load_token_cache(conn, connection)

    async def save_token_cache(
        self, connection: str, ciphertext: bytes, expected_version: int
    ) -> int:
        """Compare-and-set; returns the new version or raises ``TokenCacheConflict``."""
        async with self._write() as conn:
            return await tokens.save_token_cache(
                conn, connection, ciphertext, expected_version, self._clock()
            )

    async def get_connection_state(self, connection: str) -> ConnectionState | None:
        async with self._read() as conn:
            return await tokens.get_connection_state(conn, connection)

    async def list_connection_states(self) -> list[ConnectionState]:
        async with self._read() as conn:
            return await tokens.list_connection_states(conn)

    async def set_connection_state(
        self, connection: str, state: ConnectionStatus, reason: str | None = None
    ) -> None:
        async with self._write() as conn:
            await tokens.set_connection_state(conn, connection, state, reason, self._clock())
