"""The replica's side of the cluster: heartbeat, fair share, leases held in memory.

``run`` drives two independent loops, so that renewals never wait for acquisitions:

* **heartbeat** (every ``heartbeat_interval_s``): one transaction records that this
  replica is alive, reads the live replicas and renews every held lease in one statement,
  all with the same expiry (a replica's leases lapse exactly when its heartbeat does).
* **rebalance**: reads the live replicas, computes this replica's share, releases what is
  no longer ours, and takes every free lease of the share in one transaction. It runs
  every interval, at once when the heartbeat sees the membership change, and when a peer's
  heartbeat or a wanted lease is due to expire, so a dead replica's recipes are taken as
  soon as its leases lapse (and not before: a peer is dead only once its heartbeat expired).

A lease counts as held locally only until ``renewal start + TTL`` on the monotonic clock,
so a replica that was paused (SIGSTOP, a long GC, a partition) stops polling by itself
before anyone else may take over; if another replica did take over, the next renewal
drops the recipe, and any commit in between fails on the epoch. A renewal that ran late
keeps every lease still at our ``(owner, epoch)``.

On PostgreSQL the coordinator has its own small connection pool (``cluster_engine``), so
that job workers using every connection of the store's pool never delay a heartbeat, and
the daemon runs it on an event loop of its own (``thread.py``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from runner.cluster import leases, membership
from runner.cluster.assign import assigned_to

Clock = Callable[[], float]

# The coordinator runs at most three transactions at once: heartbeat, rebalance, confirm.
POOL_SIZE, POOL_OVERFLOW = 2, 1
# Rebalance this long after a peer's heartbeat or a wanted lease expires (so that it has
# expired by our clock too), never more often than every MIN_GAP_S; a contended lease (a
# row another transaction had locked) is tried again after RETRY_S.
EXPIRY_MARGIN_S, MIN_GAP_S, RETRY_S = 0.02, 0.05, 0.25


def cluster_engine(store_engine: AsyncEngine, state_url: str) -> AsyncEngine:
    """The coordinator's own small pool on PostgreSQL (same server, same ``?schema=``);
    on SQLite (a single replica, one writer at a time) the store's engine."""
    if store_engine.dialect.name != "postgresql":
        return store_engine
    schema = dict(parse_qsl(urlsplit(state_url).query)).get("schema")
    connect_args = {"server_settings": {"search_path": schema}} if schema else {}
    return create_async_engine(store_engine.url, connect_args=connect_args,
                               pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)


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
        self._peers_until: dict[str, float] = {}  # live peers: heartbeat expiry (UNIX s)
        self._wanted_until: dict[str, float] = {}  # our share, held elsewhere: expiry
        self._retry = False  # some lease of our share was contended
        self._rebalance_now = asyncio.Event()
        self._stopping = asyncio.Event()
        self._confirming = asyncio.Lock()
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

    # -- the loops ------------------------------------------------------------------

    async def run(self, recipes: Callable[[], Collection[str]],
                  on_acquired: Callable[[list[str]], None]) -> None:
        """Heartbeat and rebalance until ``stop_soon`` (or cancelled); ``recipes`` gives the
        recipes to share out, ``on_acquired`` is told the ones just taken (to poll them at
        once)."""
        self._stopping.clear()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._heartbeat_loop(), name="cluster-heartbeat")
            group.create_task(self._rebalance_loop(recipes, on_acquired),
                              name="cluster-rebalance")

    def rebalance_soon(self) -> None:
        """Run the rebalance loop now (e.g. the loaded recipes changed)."""
        self._rebalance_now.set()

    def stop_soon(self) -> None:
        """End ``run`` once each loop has finished its round: no transaction is cancelled
        midway (on SQLite, a cancelled call can hold the file's lock for a while)."""
        self._stopping.set()

    async def _heartbeat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval_s = self.settings.heartbeat_interval_s
        due = loop.time()
        while not self._stopping.is_set():
            started = loop.time()
            try:
                await self.heartbeat()
            except Exception as exc:  # the store is unreachable: leases lapse, polls stop
                self.log.error("cluster.heartbeat_failed", replica=self.replica_id,
                               error=f"{exc.__class__.__name__}: {exc}")
            took_s = loop.time() - started
            if took_s > interval_s:
                self.log.warning("cluster.heartbeat_slow", replica=self.replica_id,
                                 took_s=round(took_s, 3), interval_s=interval_s)
            due = max(due + interval_s, loop.time())
            await self._wait(self._stopping, due - loop.time())

    async def _rebalance_loop(self, recipes: Callable[[], Collection[str]],
                              on_acquired: Callable[[list[str]], None]) -> None:
        while not self._stopping.is_set():
            self._rebalance_now.clear()
            try:
                result = await self.rebalance(recipes())
                if result.acquired:
                    on_acquired(result.acquired)
            except Exception as exc:  # the store is unreachable: try again next round
                self.log.error("cluster.rebalance_failed", replica=self.replica_id,
                               error=f"{exc.__class__.__name__}: {exc}")
            await self._wait(self._rebalance_now, self._rebalance_delay_s())

    async def _wait(self, event: asyncio.Event, timeout_s: float) -> None:
        """Until ``event`` or ``_stopping`` is set, or ``timeout_s`` has passed."""
        waits = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._stopping.wait())}
        try:
            await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    def _rebalance_delay_s(self) -> float:
        """Until the next periodic rebalance, or just after the earliest expiry that may
        change what we can take (a peer's heartbeat, a wanted lease held elsewhere)."""
        delay_s = RETRY_S if self._retry else self.settings.heartbeat_interval_s
        expiries = [*self._peers_until.values(), *self._wanted_until.values()]
        if expiries:
            delay_s = min(delay_s, min(expiries) - self._clock() + EXPIRY_MARGIN_S)
        return max(delay_s, MIN_GAP_S)

    # -- one round of each ------------------------------------------------------------

    async def tick(self, recipes: Collection[str]) -> TickResult:
        """One heartbeat and one rebalance over the loaded ``recipes`` (burst mode, tests)."""
        beat = await self.heartbeat()
        result = await self.rebalance(recipes)
        result.lost = beat.lost + result.lost
        return result

    async def heartbeat(self) -> TickResult:
        """Record that we are alive, read the live replicas, renew every held lease: one
        transaction, one expiry for all of them. Reports the leases lost."""
        now_s, started = self._clock(), self._monotonic()
        held = {recipe: lease.epoch for recipe, lease in self._held.items()}
        ttl_s = self.settings.lease_ttl_s
        async with self.engine.begin() as conn:
            await membership.heartbeat(conn, self.replica_id, self.host, self.pid, ttl_s, now_s)
            live = await membership.list_replicas(conn, now_s)
            renewed = await leases.renew_leases(conn, self.replica_id, held, ttl_s, now_s)
        if self._see(live):
            self._rebalance_now.set()
        result = TickResult()
        self._renewed(held, renewed, started, result)
        return result

    async def rebalance(self, recipes: Collection[str]) -> TickResult:
        """Read the live replicas, release what is no longer our share and take every free
        lease of it: one transaction, which waits for no row lock."""
        result = TickResult()
        now_s, started = self._clock(), self._monotonic()
        ttl_s = self.settings.lease_ttl_s
        async with self.engine.begin() as conn:
            self._see(await membership.list_replicas(conn, now_s))
            wanted = assigned_to(self.replica_id, recipes, self.live_ids)
            unwanted = {r: self._held.pop(r).epoch for r in sorted(set(self._held) - wanted)}
            if unwanted:
                await leases.release_leases(conn, self.replica_id, unwanted, now_s)
            taken = await leases.acquire_leases(conn, wanted - set(self._held),
                                                self.replica_id, ttl_s, now_s)
        if unwanted:
            result.released.extend(unwanted)
            self.log.info("lease.released", recipes=list(unwanted), replica=self.replica_id)
        self._wanted_until, self._retry = taken.held_until, bool(taken.contended)
        for recipe, acquired in sorted(taken.acquired.items()):
            lease = acquired.lease
            self._held[recipe] = HeldLease(lease.epoch, lease.acquired_at, started + ttl_s)
            result.acquired.append(recipe)
            self.log.info("lease.acquired", recipe=recipe, epoch=lease.epoch,
                          replica=self.replica_id, previous_owner=acquired.previous_owner)
        return result

    async def confirm(self, recipe: str) -> bool:
        """Renew ``recipe``'s lease now (e.g. after a failed commit); drops it if lost."""
        async with self._confirming:  # failed polls must not use up the pool
            held = self._held.get(recipe)
            if held is None:
                return False
            now_s, started = self._clock(), self._monotonic()
            async with self.engine.begin() as conn:
                renewed = await leases.renew_leases(conn, self.replica_id, {recipe: held.epoch},
                                                    self.settings.lease_ttl_s, now_s)
            self._renewed({recipe: held.epoch}, renewed, started, TickResult())
        return recipe in self._held

    def _see(self, live: list[membership.Replica]) -> bool:
        """Remember the live replicas; True when the set changed."""
        self._peers_until = {r.id: r.expires_at for r in live if r.id != self.replica_id}
        ids = sorted({*self._peers_until, self.replica_id})
        if ids == self.live_ids:
            return False
        self.log.info("cluster.membership", replicas=ids, replica=self.replica_id)
        self.live_ids = ids
        return True

    def _renewed(self, held: Mapping[str, int], renewed: set[str], started: float,
                 result: TickResult) -> None:
        valid_until = started + self.settings.lease_ttl_s
        for recipe, epoch in held.items():
            current = self._held.get(recipe)
            if current is None or current.epoch != epoch:
                continue  # released or re-taken meanwhile
            if recipe in renewed:
                self._held[recipe] = HeldLease(epoch, current.acquired_at, valid_until)
                continue
            del self._held[recipe]
            result.lost.append(recipe)
            self.log.warning("lease.lost", recipe=recipe, epoch=epoch, replica=self.replica_id)
