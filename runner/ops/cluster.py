"""The cluster on the status page and in ``/metrics``: this replica's id, the live
replicas, and which replica polls each loaded recipe (and for how long)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from runner.cluster.view import lease_age_s, read_cluster
from runner.ops.context import OpsContext


@dataclass(frozen=True)
class LeaseRow:
    recipe: str
    owner: str
    mine: bool
    epoch: int | None
    age: str


@dataclass(frozen=True)
class ClusterSection:
    replica: str
    replicas: list[str]
    leases: list[LeaseRow]


def _age(seconds: float | None) -> str:
    return "-" if seconds is None else f"{int(seconds)} s"


async def cluster_section(ops: OpsContext) -> ClusterSection:
    """This replica, the live ones, and the lease of every loaded recipe."""
    view = await read_cluster(ops.engine.store)
    me = ops.engine.worker_settings.worker_id
    rows = []
    for recipe in sorted(ops.engine.recipes):
        lease = view.leases.get(recipe)
        owner = view.owner(recipe)
        rows.append(LeaseRow(recipe, owner or "-", owner == me,
                             lease.epoch if lease else None,
                             _age(lease_age_s(lease, view.now_s))))
    return ClusterSection(me, [r.id for r in view.replicas], rows)


async def sample_cluster(ops: OpsContext) -> None:
    """Set ``replica_info`` and ``recipe_owned`` (1: this replica polls the recipe)."""
    me = ops.engine.worker_settings.worker_id
    ops.metrics.replica_info.labels(me).set(1)
    try:
        view = await read_cluster(ops.engine.store, time.time())
    except Exception:  # the store is down: /readyz says so; keep the last samples
        return
    ops.metrics.live_replicas.set(len(view.replicas))
    for recipe in ops.engine.recipes:
        ops.metrics.recipe_owned.labels(recipe).set(1 if view.owner(recipe) == me else 0)
