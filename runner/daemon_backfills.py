"""The daemon's side of ``recipes backfill`` run from a shell without the connections'
secrets: take each queued request for a recipe this replica polls, run it over the
recipe's own connection, store the outcome the command waits for (see
``runner.store.backfills``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from connectors.base import ConnectorError, Registry
from runner.engine.backfill import backfill, backfill_spec
from runner.engine.engine import Engine, RunningRecipe

CHECK_EVERY_S = 2.0


async def run_requested_backfills(engine: Engine, registry: Registry,
                                  polls: Callable[[str], bool], log: Any) -> None:
    """Run every queued backfill of a loaded recipe that ``polls(name)`` says is ours."""
    for name, body in (await engine.store.pending_backfills()).items():
        running = engine.recipes.get(name)
        if running is None or not polls(name):
            continue  # another replica's, or a recipe not loaded here: left queued
        if await engine.store.take_backfill(name, body):
            await _run(engine, registry, running, body, log)


async def _run(engine: Engine, registry: Registry, running: RunningRecipe,
               body: dict[str, Any], log: Any) -> None:
    name = running.recipe.name
    since = datetime.fromisoformat(body["since"])
    until = datetime.fromisoformat(body["until"]) if body.get("until") else None
    log.info("recipe.backfill_started", recipe=name, since=body["since"],
             until=body.get("until"), force=body.get("force", False))
    try:
        spec = backfill_spec(running.recipe, registry.triggers)
        summary = await backfill(running.recipe, spec, engine.store,
                                 running.poller.connection, since, until,
                                 force=bool(body.get("force")), log=log)
    except ConnectorError as exc:
        log.warning("recipe.backfill_failed", recipe=name, error=exc.message)
        await engine.store.finish_backfill(name, {"id": body["id"], "ok": False,
                                                  "error": exc.message})
        return
    running.worker.wake()
    log.info("recipe.backfill_finished", recipe=name, **summary.to_json())
    await engine.store.finish_backfill(name, {"id": body["id"], "ok": True,
                                              "summary": summary.to_json()})
