"""The cluster as operators see it: live replicas, and who owns each recipe since when.
Read-only; used by ``recipes list``, the status page and ``/metrics``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from runner.cluster.leases import Lease, list_leases
from runner.cluster.membership import Replica, list_replicas
from runner.store import Store
from runner.store.engine import READ_ONLY


@dataclass(frozen=True)
class ClusterView:
    replicas: list[Replica]  # live ones
    leases: dict[str, Lease]  # by recipe, released and lapsed ones included
    now_s: float

    def owner(self, recipe: str) -> str | None:
        """The replica holding ``recipe``'s live lease, if any."""
        lease = self.leases.get(recipe)
        if lease is None or lease.owner is None or lease.expires_at < self.now_s:
            return None
        return lease.owner

    def owned_by(self, replica_id: str) -> list[str]:
        return sorted(r for r in self.leases if self.owner(r) == replica_id)


async def read_cluster(store: Store, now_s: float | None = None) -> ClusterView:
    """One read of the replicas and leases tables."""
    now_s = time.time() if now_s is None else now_s
    async with store.engine.connect() as conn:
        await conn.execution_options(**{READ_ONLY: True})
        async with conn.begin():
            replicas = await list_replicas(conn, now_s)
            leases = {lease.recipe: lease for lease in await list_leases(conn)}
    return ClusterView(replicas, leases, now_s)


def lease_age_s(lease: Lease | None, now_s: float) -> float | None:
    """How long the current owner has held the lease (None: no live lease)."""
    if lease is None or lease.owner is None or lease.expires_at < now_s:
        return None
    return max(0.0, now_s - lease.acquired_at)


def lease_json(lease: Lease | None, now_s: float) -> dict[str, Any]:
    """``owner``, ``epoch`` and ``lease_age_s`` for a JSON listing (None when not held)."""
    age_s = lease_age_s(lease, now_s)
    return {"owner": lease.owner if age_s is not None and lease else None,
            "epoch": lease.epoch if lease else None,
            "lease_age_s": None if age_s is None else round(age_s, 1)}
