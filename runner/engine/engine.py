"""The engine: for every loaded recipe, a poller (trigger → jobs) and a worker (jobs →
steps), sharing one state store, one group writer and one connection pool."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from connectors.base import Registry, TriggerSpec
from runner.engine.feeds import Feed, feed_id
from runner.engine.job import JobServices
from runner.engine.poller import PollSummary, RecipePoller
from runner.engine.worker import RecipeWorker, WorkerSettings
from runner.engine.writer import GroupWriter
from runner.recipes import ActionStep, ForEachStep, Recipe, Step
from runner.redact import Redactor
from runner.runtime import ConnectionPool
from runner.store import Store
from runner.store.feeds import MemberCursor


@dataclass
class RunningRecipe:
    recipe: Recipe
    poller: RecipePoller
    worker: RecipeWorker
    feed: str | None = None  # the feed that polls for it; None: it polls on its own


@dataclass
class BurstSummary:
    polls: dict[str, PollSummary] = field(default_factory=dict)
    jobs_run: int = 0


class Engine:
    def __init__(self, store: Store, registry: Registry, pool: ConnectionPool, log: Any,
                 worker_settings: WorkerSettings, redactor: Redactor | None = None,
                 *, feeds: bool = True) -> None:
        self.store = store
        self.registry = registry
        self.pool = pool
        self.log = log
        self.worker_settings = worker_settings
        self.writer = GroupWriter(store)
        self.services = JobServices(registry=registry, writer=self.writer,
                                    connection=pool.get, log=log,
                                    redactor=redactor or Redactor())
        self.recipes: dict[str, RunningRecipe] = {}
        self.use_feeds = feeds
        self.feeds: dict[str, Feed] = {}  # feed id -> the feed serving its members

    def add(self, recipe: Recipe, *, start_worker: bool = True) -> RunningRecipe:
        """Set up a recipe's poller and worker, and its place in a table feed when it can
        share one (the caller schedules the polls: see :meth:`pollables`)."""
        worker = RecipeWorker(recipe, self.store, self.services, self.worker_settings)
        spec = self.registry.triggers[recipe.trigger.type]
        connection = self.pool.get(recipe.trigger.connection) if spec.connection_types else None
        poller = RecipePoller(recipe, spec, self.store, connection, self.log, worker.wake)
        running = RunningRecipe(recipe, poller, worker, self._feed_for(recipe, spec, connection))
        if running.feed is not None:
            self.feeds[running.feed].add(poller)
        self.recipes[recipe.name] = running
        if start_worker:
            worker.start()
        return running

    def _feed_for(self, recipe: Recipe, spec: TriggerSpec, connection: Any) -> str | None:
        if not self.use_feeds or spec.feed is None:
            return None
        try:
            key = feed_id(recipe, spec)
        except ValueError as exc:
            self.log.info("recipe.polls_alone", recipe=recipe.name, reason=str(exc))
            return None
        if key is not None and key not in self.feeds:
            self.feeds[key] = Feed(key, spec, self.store, connection, self.log)
        return key

    def pollables(self) -> dict[str, float]:
        """What to poll and how often: each feed (at its members' shortest interval) and
        each recipe that polls on its own, by name."""
        alone = {name: running.recipe.trigger.poll_interval_s
                 for name, running in self.recipes.items() if running.feed is None}
        return {**alone, **{key: feed.poll_interval_s for key, feed in self.feeds.items()
                            if feed.mode != "push"}}  # push only: nothing to poll

    def push_feeds(self) -> list[Feed]:
        """The feeds whose changes the service pushes (``mode`` push or hybrid)."""
        return [feed for feed in self.feeds.values() if feed.mode != "poll"]

    def feed_by_token(self, token: str) -> Feed | None:
        """The feed whose webhook path ends in ``token``."""
        return next((feed for feed in self.feeds.values() if feed.token == token), None)

    async def poll(self, name: str, expected_epoch: int | None = None
                   ) -> dict[str, PollSummary]:
        """Poll one of :meth:`pollables`: each recipe's summary of it."""
        if name in self.feeds:
            return await self.feeds[name].poll_once(expected_epoch)
        return {name: await self.recipes[name].poller.poll_once(expected_epoch)}

    def pollable_of(self, recipe: str) -> str:
        """The pollable that reads for ``recipe``: its feed, or itself."""
        running = self.recipes.get(recipe)
        return running.feed if running is not None and running.feed else recipe

    async def settle_feeds(self) -> None:
        """Feeds stored with members no feed here serves any more (their recipes were
        removed, or regrouped): those members go on from the feed's cursor on their own."""
        for key, state in (await self.store.feeds_in_store()).items():
            served = self.feeds[key].members if key in self.feeds else {}
            gone = [name for name in state.members if name not in served]
            if gone:
                _, cursors = await self.store.load_feed(key, gone)
                await self.store.leave_feed(key, state, {
                    name: cursors.get(name, MemberCursor(None)) for name in gone})

    def pause_connection(self, connection: str, reason: str) -> list[str]:
        """Stop polling and running the recipes that use ``connection``; cursors and
        pending jobs stay as they are. Returns the paused recipe names."""
        paused = []
        for name, running in self.recipes.items():
            if connection in connections_used(running.recipe):
                running.poller.paused_reason = reason
                running.worker.paused_reason = reason
                paused.append(name)
        return paused

    def resume_connection(self, connection: str) -> list[str]:
        resumed = []
        for name, running in self.recipes.items():
            if connection in connections_used(running.recipe) and running.poller.paused_reason:
                running.poller.paused_reason = None
                running.worker.paused_reason = None
                running.worker.wake()
                resumed.append(name)
        return resumed

    async def sweep(self) -> None:
        """Until cancelled: wake the workers of recipes with jobs that came due without a
        wake-up (retried from the command line, claims of a dead replica), one query for
        every recipe each ``sweep_s``, so idle workers cost nothing."""
        while True:
            await asyncio.sleep(self.worker_settings.sweep_s)
            try:
                due = await self.store.due_recipes(list(self.recipes))
            except Exception as exc:  # the store is unreachable: the next sweep tries again
                self.log.warning("engine.sweep_failed", error=f"{type(exc).__name__}: {exc}")
                continue
            for name in due:
                running = self.recipes.get(name)
                if running is not None:
                    running.worker.wake()

    async def remove(self, name: str, grace_s: float) -> None:
        running = self.recipes.pop(name, None)
        if running is None:
            return
        if running.feed is not None:
            feed = self.feeds[running.feed]
            feed.remove(name)
            if not feed.members:
                del self.feeds[running.feed]
        await running.worker.stop(grace_s)

    async def burst(self) -> BurstSummary:
        """Poll every recipe once (all pages; a feed's members together), then run jobs
        until none is due."""
        summary = BurstSummary()
        await self.settle_feeds()
        for name in self.pollables():
            summary.polls.update(await self.poll(name))
        counts = await asyncio.gather(*(r.worker.run_until_idle() for r in self.recipes.values()))
        summary.jobs_run = sum(counts)
        return summary

    async def stop(self, grace_s: float) -> None:
        await asyncio.gather(*(r.worker.stop(grace_s) for r in self.recipes.values()))
        await self.writer.close()
        await self.store.release_claims(self.worker_settings.worker_id)
        await self.pool.close()


def connections_used(recipe: Recipe) -> set[str]:
    """Every connection the recipe's trigger or steps name."""
    names = {recipe.trigger.connection} if recipe.trigger.connection else set()

    def walk(steps: tuple[Step, ...]) -> None:
        for step in steps:
            if isinstance(step, ActionStep):
                if step.connection:
                    names.add(step.connection)
                if isinstance(step.on_error, tuple):
                    walk(step.on_error)
            elif isinstance(step, ForEachStep):
                walk(step.steps)

    walk(recipe.steps)
    return names
