"""Backfill: re-read a past range of a recipe's trigger into jobs, beside the live poller.

The trigger's ``backfill`` hook pages the range; each page's events are stored with
``Store.store_events``, deduplicated by event key like a poll's (unless ``force``: then
every event gets a new job with the next replay number). The live cursor is neither read
nor moved, so a running daemon goes on polling undisturbed and its worker runs the new
jobs like any others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.base import Event, RecipeError, StepContext, TriggerSpec
from runner.engine.poller import batching_of, event_payload, prefetched, prepared_events
from runner.recipes import Recipe
from runner.store import Batching, Store
from runner.store.batches import batch_job


@dataclass
class BackfillSummary:
    """What a backfill read and stored."""

    pages: int = 0
    events: int = 0
    new_jobs: int = 0
    duplicates: int = 0

    def to_json(self) -> dict[str, int]:
        return {"pages": self.pages, "events": self.events, "new_jobs": self.new_jobs,
                "duplicates": self.duplicates}


def backfill_spec(recipe: Recipe, triggers: dict[str, TriggerSpec]) -> TriggerSpec:
    """The recipe's trigger spec; ``RecipeError`` if that trigger cannot backfill."""
    spec = triggers[recipe.trigger.type]
    if spec.backfill is None:
        able = sorted(key for key, other in triggers.items() if other.backfill is not None)
        raise RecipeError(f"recipe {recipe.name}: trigger {spec.key} cannot re-read a past "
                          f"range (backfill works with {', '.join(able)})")
    return spec


async def backfill(recipe: Recipe, spec: TriggerSpec, store: Store, connection: Any,
                   since: datetime, until: datetime | None, *, force: bool = False,
                   log: Any = None) -> BackfillSummary:
    """Store the jobs of the events stamped in ``[since, until)``; the cursor stays put."""
    if spec.backfill is None:
        raise RecipeError(f"trigger {spec.key} cannot backfill")
    params = spec.params.model_validate(recipe.trigger.params)
    ctx = StepContext(recipe=recipe.name, connection=connection, log=log)
    summary = BackfillSummary()
    batching = batching_of(recipe)
    async for page in prefetched(spec.backfill(params, since, until, ctx)):
        events = page.events if not (force and batching) else as_batches(page.events,
                                                                             batching)
        result = await store.store_events(recipe.name, prepared_events(
            recipe.name, events, force=force, batching=batching))
        summary.pages += 1
        summary.events += len(page.events)
        summary.new_jobs += result.new_jobs
        summary.duplicates += result.duplicates
    if batching is not None and not force:  # the range's members, grouped now
        summary.new_jobs += (await store.store_batches(recipe.name, batching,
                                                       flush=True)).new_jobs
    return summary


def as_batches(events: list[Event], batching: Batching | None) -> list[Event]:
    """``events`` grouped as batch jobs group them, in memory: for ``--force`` on a batching
    recipe (new batch jobs of their own, bypassing the members that have jobs) and for
    dry runs."""
    assert batching is not None
    grouped = []
    for start in range(0, len(events), batching.size):
        key, payload = batch_job([event_payload(e) for e in events[start:start + batching.size]])
        grouped.append(Event(key, payload["record"], "batch"))
    return grouped
