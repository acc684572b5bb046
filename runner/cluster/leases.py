"""Recipe leases: who polls a recipe, until when, under which epoch.

A lease is ``(recipe, owner, epoch, expires_at)``. Taking a lease (free, expired, or held
by an earlier incarnation of the same replica) bumps the recipe's cursor epoch in the same
transaction, so every commit of an earlier holder fails with ``StaleEpoch`` and writes
nothing. ``acquire_leases`` takes every free lease of a set in one transaction (one
statement bumps all their epochs). Renewing and releasing are conditional on ``(owner,
epoch)``: a replica whose lease was taken learns it from a renewal that changes no row.

Times are UNIX seconds from the caller's clock; replicas compare each other's expiry
times, so their clocks must agree to well within a lease TTL (NTP).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from runner.store._sql import insert_for
from runner.store.schema import cursors, leases

_WRITTEN = ("owner", "epoch", "acquired_at", "renewed_at", "expires_at")


@dataclass(frozen=True, slots=True)
class Lease:
    recipe: str
    owner: str | None  # None: released
    epoch: int
    acquired_at: float
    renewed_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class Acquired:
    lease: Lease
    previous_owner: str | None  # who held it before (None: nobody, or released)


@dataclass(frozen=True, slots=True)
class Taken:
    """What one ``acquire_leases`` transaction got, and why it did not get the rest."""

    acquired: dict[str, Acquired] = field(default_factory=dict)
    held_until: dict[str, float] = field(default_factory=dict)  # live elsewhere: expiry
    contended: set[str] = field(default_factory=set)  # free, but being written right now


async def acquire_lease(
    conn: AsyncConnection, recipe: str, owner: str, ttl_s: float, now_s: float
) -> Acquired | None:
    """Take ``recipe`` for ``owner`` (``acquire_leases`` for one recipe). ``None``: held
    by another replica, or another transaction is writing its lease or cursor now."""
    return (await acquire_leases(conn, [recipe], owner, ttl_s, now_s)).acquired.get(recipe)


async def acquire_leases(
    conn: AsyncConnection, recipes: Collection[str], owner: str, ttl_s: float, now_s: float
) -> Taken:
    """Take for ``owner``, in the caller's transaction, every lease of ``recipes`` that no
    other replica holds unexpired; each new lease carries its cursor's freshly bumped
    epoch. Rows another transaction has locked (a takeover, a renewal, a cursor commit in
    flight) are skipped, not waited for: they are ``contended``, to try again shortly."""
    names = sorted(set(recipes))  # one lock order for every replica
    if not names:
        return Taken()
    seen = {row.recipe: row for row in await conn.execute(
        select(leases.c.recipe, leases.c.owner, leases.c.expires_at,
               cursors.c.recipe.is_not(None).label("has_cursor"))
        .select_from(leases.outerjoin(cursors, cursors.c.recipe == leases.c.recipe))
        .where(leases.c.recipe.in_(names)))}
    held_until = {r: row.expires_at for r, row in seen.items() if not _is_free(row, owner, now_s)}
    await _create_missing(conn, [r for r in names if r not in seen], now_s)
    candidates = [r for r in names if r not in held_until]
    rows = await _lock_free(conn, candidates, {r for r in candidates if r in seen and
                                               seen[r].has_cursor}, owner, now_s)
    epochs = await bump_epochs(conn, list(rows), now_s)
    await _write_leases(conn, epochs, owner, ttl_s, now_s)
    acquired = {
        recipe: Acquired(Lease(recipe, owner, epoch, now_s, now_s, now_s + ttl_s),
                         rows[recipe].owner if rows[recipe].expires_at >= now_s else None)
        for recipe, epoch in epochs.items()
    }
    return Taken(acquired, held_until, set(candidates) - set(acquired))


def _is_free(row: Any, owner: str, now_s: float) -> bool:
    return row.owner in (None, owner) or row.expires_at < now_s


def _free_clause(owner: str, now_s: float) -> ColumnElement[bool]:
    return or_(leases.c.owner.is_(None), leases.c.owner == owner, leases.c.expires_at < now_s)


async def _create_missing(conn: AsyncConnection, recipes: list[str], now_s: float) -> None:
    # The row must exist for FOR UPDATE to serialise concurrent takers on PostgreSQL
    # (SQLite's BEGIN IMMEDIATE already does).
    if not recipes:
        return
    await conn.execute(
        insert_for(conn, leases)
        .values([{"recipe": r, "owner": None, "epoch": 0, "acquired_at": now_s,
                  "renewed_at": now_s, "expires_at": 0.0} for r in recipes])
        .on_conflict_do_nothing(index_elements=[leases.c.recipe])
    )


async def _lock_free(
    conn: AsyncConnection, recipes: list[str], with_cursor: set[str], owner: str, now_s: float
) -> dict[str, Any]:
    """Lock the lease rows of ``recipes`` that are still free, skipping locked ones; for
    ``with_cursor`` lock the cursor row too (no ``OF``: every joined row), so that the
    epoch bump never waits for a commit in flight while holding the rest of the batch."""
    joined = leases.join(cursors, cursors.c.recipe == leases.c.recipe)
    rows = [*await _lock(conn, joined, sorted(with_cursor), owner, now_s),
            *await _lock(conn, leases, [r for r in recipes if r not in with_cursor],
                         owner, now_s)]
    return {row.recipe: row for row in rows}


async def _lock(
    conn: AsyncConnection, table: Any, recipes: list[str], owner: str, now_s: float
) -> list[Any]:
    if not recipes:
        return []
    return list(await conn.execute(
        select(leases.c.recipe, leases.c.owner, leases.c.expires_at)
        .select_from(table)
        .where(leases.c.recipe.in_(recipes), _free_clause(owner, now_s))
        .order_by(leases.c.recipe)
        .with_for_update(skip_locked=True)
    ))


async def bump_epochs(conn: AsyncConnection, recipes: list[str], now_s: float) -> dict[str, int]:
    """``cursors.bump_epoch`` for several recipes in one statement: increments each one's
    epoch (creating its cursor row) and returns the new values."""
    if not recipes:
        return {}
    stmt = insert_for(conn, cursors).values(
        [{"recipe": r, "state": None, "epoch": 1, "updated_at": now_s} for r in sorted(recipes)])
    stmt = stmt.on_conflict_do_update(
        index_elements=[cursors.c.recipe],
        set_={"epoch": cursors.c.epoch + 1, "updated_at": now_s},
    ).returning(cursors.c.recipe, cursors.c.epoch)
    return {row.recipe: row.epoch for row in await conn.execute(stmt)}


async def _write_leases(
    conn: AsyncConnection, epochs: Mapping[str, int], owner: str, ttl_s: float, now_s: float
) -> None:
    if not epochs:
        return
    stmt = insert_for(conn, leases).values(
        [{"recipe": r, "owner": owner, "epoch": epoch, "acquired_at": now_s,
          "renewed_at": now_s, "expires_at": now_s + ttl_s} for r, epoch in sorted(epochs.items())])
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[leases.c.recipe], set_={c: stmt.excluded[c] for c in _WRITTEN}))


async def renew_leases(
    conn: AsyncConnection, owner: str, held: Mapping[str, int], ttl_s: float, now_s: float
) -> set[str]:
    """Extend the leases ``{recipe: epoch}`` that ``owner`` still holds at those epochs;
    returns the recipes renewed (the others were taken over)."""
    if not held:
        return set()
    result = await conn.execute(
        update(leases)
        .where(leases.c.owner == owner,
               tuple_(leases.c.recipe, leases.c.epoch).in_(list(held.items())))
        .values(renewed_at=now_s, expires_at=now_s + ttl_s)
        .returning(leases.c.recipe)
    )
    return set(result.scalars())


async def release_leases(
    conn: AsyncConnection, owner: str, held: Mapping[str, int] | None, now_s: float
) -> int:
    """Give up ``held`` (``{recipe: epoch}``; ``None``: every lease of ``owner``) so another
    replica may take them at once; returns how many were released."""
    stmt = update(leases).where(leases.c.owner == owner)
    if held is not None:
        if not held:
            return 0
        stmt = stmt.where(tuple_(leases.c.recipe, leases.c.epoch).in_(list(held.items())))
    stmt = stmt.values(owner=None, expires_at=now_s)
    return len((await conn.execute(stmt.returning(leases.c.recipe))).all())


async def list_leases(conn: AsyncConnection) -> list[Lease]:
    """Every lease row, by recipe (released ones have ``owner`` None)."""
    rows = await conn.execute(select(leases).order_by(leases.c.recipe))
    return [_lease(row._asdict()) for row in rows]


def _lease(values: dict[str, Any]) -> Lease:
    return Lease(**values)
