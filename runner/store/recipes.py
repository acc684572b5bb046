"""Per-recipe operator state: an enabled override, the last poll time and error, and how
many polls failed in a row."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from runner.store._sql import insert_for
from runner.store.records import RecipeState
from runner.store.schema import recipe_states

_STATE_COLUMNS = (recipe_states.c.recipe, recipe_states.c.enabled, recipe_states.c.last_poll_at,
                  recipe_states.c.last_error, recipe_states.c.failed_polls,
                  recipe_states.c.file_problem, recipe_states.c.last_good_poll_at)


async def get_recipe_state(conn: AsyncConnection, recipe: str) -> RecipeState:
    """The recipe's state; a recipe never seen has no override and no poll yet."""
    return (await get_recipe_states(conn, [recipe]))[recipe]


async def get_recipe_states(conn: AsyncConnection,
                            names: Sequence[str]) -> dict[str, RecipeState]:
    """The state of each of ``names``, in one statement."""
    rows = await conn.execute(select(*_STATE_COLUMNS)
                              .where(recipe_states.c.recipe.in_(list(names))))
    found = {row.recipe: RecipeState(
        recipe=row.recipe, enabled=row.enabled, last_poll_at=row.last_poll_at,
        last_error=row.last_error, failed_polls=row.failed_polls,
        file_problem=row.file_problem, last_good_poll_at=row.last_good_poll_at)
        for row in rows}
    return {name: found.get(name) or RecipeState(recipe=name, enabled=None, last_poll_at=None,
                                                 last_error=None) for name in names}


async def set_recipe_enabled(
    conn: AsyncConnection, recipe: str, enabled: bool | None, now_s: float
) -> None:
    """Override the recipe file's ``enabled`` (``None`` removes the override)."""
    await _upsert(conn, recipe, now_s, enabled=enabled)


async def set_file_problem(
    conn: AsyncConnection, recipe: str, problem: str | None, now_s: float
) -> None:
    """The daemon keeps running the last good version of ``recipe`` because its file has
    ``problem`` (``None``: the file loads again, or the version is no longer running)."""
    await _upsert(conn, recipe, now_s, file_problem=problem)


async def record_poll_outcome(
    conn: AsyncConnection, recipe: str, error: str | None, now_s: float
) -> None:
    """Remember that the recipe polled at ``now_s`` and how it went (``None``: fine); a
    failure adds one to the polls failed in a row, a success sets them back to 0."""
    failed = recipe_states.c.failed_polls + 1 if error else 0
    good = {} if error else {"last_good_poll_at": now_s}
    await _upsert(conn, recipe, now_s, {"failed_polls": failed},
                  last_poll_at=now_s, last_error=error, failed_polls=1 if error else 0, **good)


async def _upsert(conn: AsyncConnection, recipe: str, now_s: float,
                  on_update: dict[str, object] | None = None, **values: object) -> None:
    stmt = insert_for(conn, recipe_states).values(recipe=recipe, updated_at=now_s, **values)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[recipe_states.c.recipe],
            set_={**values, **(on_update or {}), "updated_at": now_s},
        )
    )


async def enabled_overrides(conn: AsyncConnection,
                            names: Sequence[str]) -> dict[str, bool | None]:
    """The operator switch of each of ``names`` that has a state row."""
    rows = await conn.execute(select(recipe_states.c.recipe, recipe_states.c.enabled)
                              .where(recipe_states.c.recipe.in_(list(names))))
    return {row.recipe: row.enabled for row in rows}


async def record_poll_outcomes(conn: AsyncConnection, names: Sequence[str], error: str | None,
                               now_s: float) -> None:
    """``record_poll_outcome`` for each of ``names``, in one statement."""
    if not names:
        return
    good = {} if error else {"last_good_poll_at": now_s}
    stmt = insert_for(conn, recipe_states)
    stmt = stmt.on_conflict_do_update(
        index_elements=[recipe_states.c.recipe],
        set_={"last_poll_at": now_s, "last_error": error, "updated_at": now_s,
              "failed_polls": recipe_states.c.failed_polls + 1 if error else 0, **good})
    await conn.execute(stmt, [{"recipe": name, "updated_at": now_s, "last_poll_at": now_s,
                               "last_error": error, "failed_polls": 1 if error else 0, **good}
                              for name in names])
