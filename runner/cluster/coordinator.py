"""The replica's side of the cluster: heartbeat, fair share, leases held in memory.

``tick`` (every ``heartbeat_interval_s``): heartbeat, read the live replicas, compute this
replica's share, release what is no longer ours, renew what is (dropping what was taken
over), acquire what is ours and free. A lease counts as held locally only until
``renewal start + TTL`` on the monotonic clock, so a replica that was paused (SIGSTOP, a
long GC, a partition) stops polling by itself before anyone else may take over; if
another replica did take over, the next renewal drops the recipe, and any commit in
between fails on the epoch.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from runner.cluster import leases, membership
from runner.cluster.assign import assigned_to

Clock = Callable[[], float]


@dataclass(frozen=True)
class ClusterSettings:
    replica_id: str
    lease_ttl_s: float = 15.0

    @property
    def heartbeat_interval_s(self) -> float:
        """A quarter of the TTL: three renewals may fail before a lease lapses."""
        return self.lease_ttl_s / 4


@dataclass(frozen=True, slots=True)
class HeldLease:
    epoch: int
    acquired_at: float  # UNIX seconds
    valid_until: float  # monotonic seconds: the start of the last renewal + TTL


@dataclass
class TickResult:
    acquired: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)  # no longer our share
    lost: list[str] = field(default_factory=list)  # taken over while we were away


class Coordinator:
    """Holds this replica's leases; the daemon polls a recipe only with ``epoch_for``."""

    def __init__(self, engine: AsyncEngine, settings: ClusterSettings, *, log: Any = None,
                 clock: Clock = time.time, monotonic: Clock = time.monotonic) -> None:
        self.engine = engine
        self.settings = settings
        self.log = log or structlog.get_logger("recipe-runner")
        self._clock = clock
        self._monotonic = monotonic
        self._held: dict[str, HeldLease] = {}
        self.live_ids: list[str] = [settings.replica_id]
        self.host = socket.gethostname()
        self.pid = os.getpid()

    @property
    def replica_id(self) -> str:
        return self.settings.replica_id

    @property
    def owned(self) -> dict[str, HeldLease]:
        """The leases this replica holds (locally valid or not), by recipe."""
        return dict(self._held)

    def epoch_for(self, recipe: str) -> int | None:
        """The epoch to commit ``recipe``'s cursor with, if this replica may poll it now."""
        held = self._held.get(recipe)
        if held is None or self._monotonic() >= held.valid_until:
            return None
        return held.epoch

    async def join(self) -> None:
        """Register; raises ``ReplicaIdInUse`` if a live replica already has our id."""
        async with self.engine.begin() as conn:
            await membership.join(conn, self.replica_id, self.host, self.pid,
                                  self.settings.lease_ttl_s, self._clock())
        self.log.info("replica.joined", replica=self.replica_id,
                      lease_ttl_s=self.settings.lease_ttl_s)

    async def leave(self) -> None:
        """Release every lease and deregister, so the others take over without waiting."""
        async with self.engine.begin() as conn:
            released = await leases.release_leases(conn, self.replica_id, None, self._clock())
            await membership.leave(conn, self.replica_id)
        self._held.clear()
        self.log.info("replica.left", replica=self.replica_id, released=released)

    async def tick(self, recipes: Collection[str]) -> TickResult:
        """One round of heartbeat and rebalance over the loaded ``recipes``."""
        started = self._monotonic()
        await self._heartbeat()
        wanted = assigned_to(self.replica_id, recipes, self.live_ids)
        result = TickResult()
        await self._release(sorted(set(self._held) - wanted), result)
        await self._renew(started, result)
        for recipe in sorted(wanted - set(self._held)):
            if await self._acquire(recipe, started):
                result.acquired.append(recipe)
        return result

    async def confirm(self, recipe: str) -> bool:
        """Renew ``recipe``'s lease now (e.g. after a failed commit); drops it if lost."""
        result = TickResult()
        if recipe in self._held:
            await self._renew(self._monotonic(), result, only=recipe)
        return recipe in self._held

    async def _heartbeat(self) -> None:
        now_s = self._clock()
        async with self.engine.begin() as conn:
            await membership.heartbeat(conn, self.replica_id, self.host, self.pid,
                                       self.settings.lease_ttl_s, now_s)
            live = await membership.list_replicas(conn, now_s)
        ids = sorted({r.id for r in live} | {self.replica_id})
        if ids != self.live_ids:
            self.log.info("cluster.membership", replicas=ids, replica=self.replica_id)
        self.live_ids = ids

    async def _release(self, recipes: list[str], result: TickResult) -> None:
        if not recipes:
            return
        held = {recipe: self._held.pop(recipe).epoch for recipe in recipes}
        async with self.engine.begin() as conn:
            await leases.release_leases(conn, self.replica_id, held, self._clock())
        result.released.extend(recipes)
        self.log.info("lease.released", recipes=recipes, replica=self.replica_id)

    async def _renew(self, started: float, result: TickResult, only: str | None = None) -> None:
        held = {r: h.epoch for r, h in self._held.items() if only in (None, r)}
        if not held:
            return
        async with self.engine.begin() as conn:
            renewed = await leases.renew_leases(conn, self.replica_id, held,
                                                self.settings.lease_ttl_s, self._clock())
        valid_until = started + self.settings.lease_ttl_s
        for recipe in held:
            current = self._held.get(recipe)
            if current is None or current.epoch != held[recipe]:
                continue  # released or re-taken by a concurrent tick meanwhile
            if recipe in renewed:
                self._held[recipe] = HeldLease(current.epoch, current.acquired_at, valid_until)
                continue
            del self._held[recipe]
            result.lost.append(recipe)
            self.log.warning("lease.lost", recipe=recipe, epoch=held[recipe],
                             replica=self.replica_id)

    async def _acquire(self, recipe: str, started: float) -> bool:
        async with self.engine.begin() as conn:
            acquired = await leases.acquire_lease(conn, recipe, self.replica_id,
                                                  self.settings.lease_ttl_s, self._clock())
        if acquired is None:
            return False
        lease = acquired.lease
        self._held[recipe] = HeldLease(lease.epoch, lease.acquired_at,
                                       started + self.settings.lease_ttl_s)
        self.log.info("lease.acquired", recipe=recipe, epoch=lease.epoch,
                      replica=self.replica_id, previous_owner=acquired.previous_owner)
        return True
