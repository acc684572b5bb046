"""Replica heartbeats: which replicas are alive, and a refusal to start a second live
replica under an id that is in use (its claims and leases would be confused with ours).

A replica is live while its ``expires_at`` (last heartbeat + TTL) has not passed. A row
left by a process that died on this same host (its pid is gone) is not live: a restart
right after ``kill -9`` need not wait for the TTL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from runner.store._sql import insert_for
from runner.store.schema import replicas


@dataclass(frozen=True, slots=True)
class Replica:
    id: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    expires_at: float


class ReplicaIdInUse(Exception):
    """Another live replica already uses this id (``Settings.worker_id``)."""

    def __init__(self, replica: Replica) -> None:
        super().__init__(
            f"replica id {replica.id!r} is in use by a live replica (host {replica.host}, "
            f"pid {replica.pid}); give each replica its own RECIPE_RUNNER_WORKER_ID"
        )
        self.replica = replica


async def join(
    conn: AsyncConnection, replica_id: str, host: str, pid: int, ttl_s: float, now_s: float
) -> None:
    """Register this replica; raises ``ReplicaIdInUse`` if a live one has the id."""
    found = (
        await conn.execute(select(replicas).where(replicas.c.id == replica_id).with_for_update())
    ).first()
    if found is not None:
        existing = Replica(**found._asdict())
        if existing.expires_at >= now_s and not _predecessor(existing, host, pid):
            raise ReplicaIdInUse(existing)
    await heartbeat(conn, replica_id, host, pid, ttl_s, now_s, started_at=now_s)


def _predecessor(existing: Replica, host: str, pid: int) -> bool:
    """An earlier process of this replica on this host that is gone (or is us)."""
    return existing.host == host and (existing.pid == pid or not _process_exists(existing.pid))


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def heartbeat(
    conn: AsyncConnection,
    replica_id: str,
    host: str,
    pid: int,
    ttl_s: float,
    now_s: float,
    *,
    started_at: float | None = None,
) -> None:
    """Record that the replica is alive until ``now_s + ttl_s``."""
    values: dict[str, Any] = {"host": host, "pid": pid, "heartbeat_at": now_s,
                              "expires_at": now_s + ttl_s}
    if started_at is not None:
        values["started_at"] = started_at
    stmt = insert_for(conn, replicas).values({"id": replica_id, "started_at": now_s, **values})
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=[replicas.c.id], set_=values)
    )


async def leave(conn: AsyncConnection, replica_id: str) -> None:
    """Remove the replica's row (a graceful stop; the others rebalance at once)."""
    await conn.execute(delete(replicas).where(replicas.c.id == replica_id))


async def list_replicas(conn: AsyncConnection, now_s: float | None = None) -> list[Replica]:
    """Replicas by id; only the live ones when ``now_s`` is given."""
    stmt = select(replicas).order_by(replicas.c.id)
    if now_s is not None:
        stmt = stmt.where(replicas.c.expires_at >= now_s)
    return [Replica(**row._asdict()) for row in await conn.execute(stmt)]
