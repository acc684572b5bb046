"""Several replicas on one PostgreSQL: who is alive, who polls which recipe, and the
cluster-wide locks. PostgreSQL is the coordination engine; there is no consensus protocol.

Map: ``membership.py`` replica heartbeats and unique ids · ``leases.py`` recipe leases
whose epoch fences cursor commits · ``assign.py`` fair share of recipes (rendezvous
hashing) · ``coordinator.py`` the daemon's heartbeat and rebalance loops (its own small
connection pool) · ``thread.py`` runs them on an event loop of their own (PostgreSQL) · ``locks.py``
advisory locks (one token refresh per connection across the cluster).

Guarantees (see ``docs/cluster.md``): only the lease holder polls a recipe, and every
cursor commit carries the lease's epoch, so a replica that lost its lease (paused,
partitioned) writes nothing when it wakes; taking a lease over bumps the epoch in the same
transaction. Jobs are shared: any replica claims them, fenced by ``worker_id``.
"""

from __future__ import annotations

from runner.cluster.assign import assigned_to, owner_of
from runner.cluster.coordinator import (
    ClusterSettings,
    Coordinator,
    TickResult,
    cluster_engine,
)
from runner.cluster.leases import Lease, list_leases
from runner.cluster.locks import cluster_lock, lock_key
from runner.cluster.membership import Replica, ReplicaIdInUse, list_replicas
from runner.cluster.thread import CoordinatorLoop, CoordinatorThread

__all__ = [
    "ClusterSettings",
    "Coordinator",
    "CoordinatorLoop",
    "CoordinatorThread",
    "Lease",
    "Replica",
    "ReplicaIdInUse",
    "TickResult",
    "assigned_to",
    "cluster_engine",
    "cluster_lock",
    "list_leases",
    "list_replicas",
    "lock_key",
    "owner_of",
]
