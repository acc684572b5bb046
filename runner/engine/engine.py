"""The engine: for every loaded recipe, a poller (trigger → jobs) and a worker (jobs →
steps), sharing one state store, one group writer and one connection pool."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from connectors.base import Registry
from runner.engine.job import JobServices
from runner.engine.poller import PollSummary, RecipePoller
from runner.engine.worker import RecipeWorker, WorkerSettings
from runner.engine.writer import GroupWriter
from runner.recipes import ActionStep, ForEachStep, Recipe, Step
from runner.redact import Redactor
from runner.runtime import ConnectionPool
from runner.store import Store


@dataclass
class RunningRecipe:
    recipe: Recipe
    poller: RecipePoller
    worker: RecipeWorker


@dataclass
class BurstSummary:
    polls: dict[str, PollSummary] = field(default_factory=dict)
    jobs_run: int = 0


class Engine:
    def __init__(self, store: Store, registry: Registry, pool: ConnectionPool, log: Any,
                 worker_settings: WorkerSettings, redactor: Redactor | None = None) -> None:
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

    def add(self, recipe: Recipe, *, start_worker: bool = True) -> RunningRecipe:
        """Set up a recipe's poller and worker (the caller schedules the polls)."""
        worker = RecipeWorker(recipe, self.store, self.services, self.worker_settings)
        spec = self.registry.triggers[recipe.trigger.type]
        connection = self.pool.get(recipe.trigger.connection) if spec.connection_types else None
        poller = RecipePoller(recipe, spec, self.store, connection, self.log, worker.wake)
        running = RunningRecipe(recipe, poller, worker)
        self.recipes[recipe.name] = running
        if start_worker:
            worker.start()
        return running

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

    async def remove(self, name: str, grace_s: float) -> None:
        running = self.recipes.pop(name, None)
        if running is not None:
            await running.worker.stop(grace_s)

    async def burst(self) -> BurstSummary:
        """Poll every recipe once (all pages), then run jobs until none is due."""
        summary = BurstSummary()
        for name, running in self.recipes.items():
            summary.polls[name] = await running.poller.poll_once()
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
