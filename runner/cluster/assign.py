"""Fair share of recipes over live replicas by rendezvous (highest random weight) hashing.

Every replica computes the same owner for a recipe from the same set of live replica ids,
with no coordination; when a replica joins or leaves, only the recipes it gains or loses
move (about 1/N of them), the rest stay where they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def _weight(replica_id: str, recipe: str) -> bytes:
    return hashlib.sha256(f"{replica_id}\0{recipe}".encode()).digest()


def owner_of(recipe: str, replica_ids: Iterable[str]) -> str | None:
    """The replica that should own ``recipe``; ``None`` when there is no replica."""
    return max(replica_ids, key=lambda replica: _weight(replica, recipe), default=None)


def assigned_to(replica_id: str, recipes: Iterable[str], replica_ids: Iterable[str]) -> set[str]:
    """The recipes ``replica_id`` should own; it counts as live whatever ``replica_ids`` says
    (a replica asking is alive)."""
    live = set(replica_ids) | {replica_id}
    return {recipe for recipe in recipes if owner_of(recipe, live) == replica_id}
