"""Recipe leases: who polls a recipe, until when, under which epoch.

A lease is ``(recipe, owner, epoch, expires_at)``. Taking a lease (free, expired, or held
by an earlier incarnation of the same replica) bumps the recipe's cursor epoch in the same
transaction, so every commit of an earlier holder fails with ``StaleEpoch`` and writes
nothing. Renewing and releasing are conditional on ``(owner, epoch)``: a replica whose
lease was taken learns it from a renewal that changes no row.

Times are UNIX seconds from the caller's clock; replicas compare each other's expiry
times, so their clocks must agree to well within a lease TTL (NTP).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from runner.store._sql import insert_for
from runner.store.cursors import bump_epoch
from runner.store.schema import leases


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


async def acquire_lease(
    conn: AsyncConnection, recipe: str, owner: str, ttl_s: float, now_s: float
) -> Acquired | None:
    """Take ``recipe`` for ``owner`` unless another replica holds an unexpired lease;
    the new lease carries the freshly bumped cursor epoch. ``None``: held by another."""
    # The row must exist for FOR UPDATE to serialise concurrent takers on PostgreSQL
    # (SQLite's BEGIN IMMEDIATE already does).
    await conn.execute(
        insert_for(conn, leases)
        .values(recipe=recipe, owner=None, epoch=0, acquired_at=now_s, renewed_at=now_s,
                expires_at=0.0)
        .on_conflict_do_nothing(index_elements=[leases.c.recipe])
    )
    row = (
        await conn.execute(select(leases).where(leases.c.recipe == recipe).with_for_update())
    ).one()
    if row.owner not in (None, owner) and row.expires_at >= now_s:
        return None
    epoch = await bump_epoch(conn, recipe, now_s)
    lease = Lease(recipe, owner, epoch, now_s, now_s, now_s + ttl_s)
    await conn.execute(
        update(leases)
        .where(leases.c.recipe == recipe)
        .values(owner=owner, epoch=epoch, acquired_at=now_s, renewed_at=now_s,
                expires_at=lease.expires_at)
    )
    return Acquired(lease, row.owner if row.expires_at >= now_s else None)


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
