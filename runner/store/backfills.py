"""Backfill requests handed from an operator's shell to the daemon, one per recipe.

``recipes backfill`` in a shell that lacks the connection's secrets (a systemd host, a
container) stores a request; the daemon, which has them, takes it (compare-and-set, so one
replica runs it), runs the backfill and stores the result, which the command is waiting
for. Requests and results are JSON: ``{"id", "since", "until", "force"}`` and ``{"id",
"ok", "summary" | "error"}``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from runner.store._sql import insert_for
from runner.store.schema import recipe_states


async def request(conn: AsyncConnection, recipe: str, body: dict[str, Any],
                  now_s: float) -> bool:
    """Queue ``body`` for ``recipe``; False when a request is queued already."""
    text = json.dumps(body, sort_keys=True)
    stmt = insert_for(conn, recipe_states).values(recipe=recipe, updated_at=now_s,
                                                  backfill_request=text)
    await conn.execute(stmt.on_conflict_do_nothing(index_elements=[recipe_states.c.recipe]))
    result = await conn.execute(
        update(recipe_states)
        .where(recipe_states.c.recipe == recipe)
        .where((recipe_states.c.backfill_request.is_(None))
               | (recipe_states.c.backfill_request == text))
        .values(backfill_request=text, updated_at=now_s))
    return result.rowcount == 1


async def pending(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    """Recipe → its queued request."""
    rows = await conn.execute(
        select(recipe_states.c.recipe, recipe_states.c.backfill_request)
        .where(recipe_states.c.backfill_request.is_not(None)))
    return {row.recipe: json.loads(row.backfill_request) for row in rows}


async def take(conn: AsyncConnection, recipe: str, body: dict[str, Any], now_s: float) -> bool:
    """Remove the queued request if it is still ``body``: True for the one replica that
    got it."""
    result = await conn.execute(
        update(recipe_states)
        .where(recipe_states.c.recipe == recipe)
        .where(recipe_states.c.backfill_request == json.dumps(body, sort_keys=True))
        .values(backfill_request=None, updated_at=now_s))
    return result.rowcount == 1


async def finish(conn: AsyncConnection, recipe: str, outcome: dict[str, Any],
                 now_s: float) -> None:
    await conn.execute(update(recipe_states).where(recipe_states.c.recipe == recipe)
                       .values(backfill_result=json.dumps(outcome), updated_at=now_s))


async def result(conn: AsyncConnection, recipe: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(recipe_states.c.backfill_result)
                              .where(recipe_states.c.recipe == recipe))).first()
    return json.loads(row.backfill_result) if row and row.backfill_result else None
