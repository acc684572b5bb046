"""Trigger cursors and their epochs (the fencing token of recipe ownership).

A cursor commit is conditional on the epoch the committer read; taking a recipe over
(``bump_epoch``) therefore makes every commit of the previous owner fail with
``StaleEpoch`` and write nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from runner.store._sql import dumps, insert_for, loads
from runner.store.errors import StaleEpoch
from runner.store.schema import cursors


async def load_cursor(conn: AsyncConnection, recipe: str) -> tuple[dict[str, Any] | None, int]:
    """The recipe's cursor and epoch; ``(None, 0)`` if it has never been committed."""
    row = (
        await conn.execute(
            select(cursors.c.state, cursors.c.epoch).where(cursors.c.recipe == recipe)
        )
    ).first()
    if row is None:
        return None, 0
    return loads(row.state), row.epoch


async def bump_epoch(conn: AsyncConnection, recipe: str, now_s: float) -> int:
    """Increment the recipe's epoch (creating its row) and return the new value."""
    stmt = insert_for(conn, cursors).values(recipe=recipe, state=None, epoch=1, updated_at=now_s)
    stmt = stmt.on_conflict_do_update(
        index_elements=[cursors.c.recipe],
        set_={"epoch": cursors.c.epoch + 1, "updated_at": now_s},
    ).returning(cursors.c.epoch)
    return (await conn.execute(stmt)).scalar_one()


def advance_cursor(
    conn: Connection,
    recipe: str,
    cursor: dict[str, Any],
    expected_epoch: int,
    now_s: float,
) -> None:
    """Store ``cursor`` if the recipe is still at ``expected_epoch``, else raise ``StaleEpoch``.

    On PostgreSQL the conditional UPDATE also row-locks the cursor until commit, so a
    concurrent takeover waits for this transaction and then wins.
    """
    state = dumps(cursor)
    updated = conn.execute(
        update(cursors)
        .where(cursors.c.recipe == recipe, cursors.c.epoch == expected_epoch)
        .values(state=state, updated_at=now_s)
        .returning(cursors.c.recipe)
    )
    if updated.first() is not None:
        return
    if expected_epoch == 0 and _create_cursor(conn, recipe, state, now_s):
        return
    raise StaleEpoch(recipe, expected_epoch)


def _create_cursor(conn: Connection, recipe: str, state: str, now_s: float) -> bool:
    stmt = (
        insert_for(conn, cursors)
        .values(recipe=recipe, state=state, epoch=0, updated_at=now_s)
        .on_conflict_do_nothing(index_elements=[cursors.c.recipe])
        .returning(cursors.c.recipe)
    )
    return conn.execute(stmt).first() is not None
