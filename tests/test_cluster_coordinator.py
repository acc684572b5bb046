"""The replica loop on the real store: fair share, rebalancing on join and leave, a paused
replica that stops polling by itself and loses its recipes, a late heartbeat that keeps
its leases, a peer dead only once its heartbeat expired, heartbeats that never wait for
acquisitions, the loops taking a dead peer's recipes within the lease TTL, on a thread of
their own while the caller's loop is blocked; rendezvous
hashing; fenced job completion in the group writer."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from structlog.testing import capture_logs

from runner.cluster import (
    ClusterSettings,
    Coordinator,
    CoordinatorThread,
    assigned_to,
    list_replicas,
    owner_of,
)
from runner.cluster.leases import list_leases
from runner.engine.writer import GroupWriter
from runner.store import ClaimLost, JobOutcome, JobStatus, NewEvent, StaleEpoch, Store
from runner.store.schema import cursors
from tests.store_support import StoreTarget

pytest_plugins = ["tests.store_support"]

TTL_S = 8.0
# SQLite has one writer at a time, so nothing overlaps there.
ONLY_POSTGRES = pytest.mark.parametrize("target", ["postgres"], indirect=True)
RECIPES = [f"recipe-{i}" for i in range(30)]


def replica(store: Store, target: StoreTarget, name: str) -> Coordinator:
    # One manual clock serves as wall and monotonic time: a replica that does not tick
    # while the clock moves is a paused one.
    return Coordinator(store.engine, ClusterSettings(name, TTL_S), clock=target.clock,
                       monotonic=target.clock)


async def test_replicas_share_recipes_and_rebalance_when_one_joins_and_leaves(
    store: Store, target: StoreTarget
) -> None:
    a, b = replica(store, target, "a"), replica(store, target, "b")
    await a.join()
    assert set((await a.tick(RECIPES)).acquired) == set(RECIPES)
    await b.join()
    assert (await b.tick(RECIPES)).acquired == []  # a's leases are live: wait for a
    released = (await a.tick(RECIPES)).released  # a sees b and lets go of b's share
    assert set((await b.tick(RECIPES)).acquired) == set(released)
    assert set(a.owned) | set(b.owned) == set(RECIPES) and not set(a.owned) & set(b.owned)
    assert set(b.owned) == assigned_to("b", RECIPES, ["a", "b"]) and len(b.owned) >= 8
    await b.leave()
    assert set((await a.tick(RECIPES)).acquired) == set(released)  # at once, no TTL wait
    assert set(a.owned) == set(RECIPES)


async def test_paused_replica_stops_polling_and_its_commit_is_refused_after_takeover(
    store: Store, target: StoreTarget
) -> None:
    a, b = replica(store, target, "a"), replica(store, target, "b")
    await a.join()
    await b.join()
    for coordinator in (a, b, a, b):  # settle: each holds its share
        await coordinator.tick(RECIPES)
    mine = sorted(a.owned)
    stale_epoch = a.epoch_for(mine[0])
    assert stale_epoch is not None

    target.clock.advance(TTL_S + 1)  # a is paused; b keeps ticking
    assert all(a.epoch_for(recipe) is None for recipe in mine)  # a stops polling by itself
    taken = await b.tick(RECIPES)
    assert set(taken.acquired) == set(mine)
    with pytest.raises(StaleEpoch):  # a's poll in flight when it paused lands nowhere
        await store.commit_poll(mine[0], [NewEvent("late", 1)], {"late": True}, stale_epoch)
    assert await store.list_jobs(mine[0]) == []

    woke = await a.tick(RECIPES)  # a wakes: its renewals fail, it drops those recipes
    assert set(woke.lost) == set(mine) and woke.acquired == []
    await b.tick(RECIPES)  # b sees a alive again and hands back a's share
    assert set((await a.tick(RECIPES)).acquired) == set(mine)


async def test_a_late_heartbeat_keeps_every_lease_nobody_took(
    store: Store, target: StoreTarget
) -> None:
    a = replica(store, target, "a")
    await a.join()
    await a.tick(RECIPES)
    epochs = {recipe: a.epoch_for(recipe) for recipe in RECIPES}
    target.clock.advance(TTL_S + 1)  # a's loop ran late, past its leases; nobody took them
    assert all(a.epoch_for(recipe) is None for recipe in RECIPES)
    late = await a.tick(RECIPES)
    assert late.lost == [] and late.acquired == [] and late.released == []
    assert {recipe: a.epoch_for(recipe) for recipe in RECIPES} == epochs  # same epochs


async def test_a_peer_is_dead_only_once_its_heartbeat_expired(
    store: Store, target: StoreTarget
) -> None:
    a, b = replica(store, target, "a"), replica(store, target, "b")
    await a.join()
    await b.join()
    for coordinator in (a, b, a, b):
        await coordinator.tick(RECIPES)
    bs = set(b.owned)
    target.clock.advance(TTL_S - 0.5)  # b stopped heartbeating; a keeps going
    early = await a.tick(RECIPES)
    assert early.acquired == [] and a.live_ids == ["a", "b"]
    target.clock.advance(0.6)  # b's heartbeat (and its leases, same expiry) just lapsed
    taken = await a.rebalance(RECIPES)
    assert set(taken.acquired) == bs and a.live_ids == ["a"]


@ONLY_POSTGRES
async def test_a_heartbeat_renews_every_lease_while_an_acquisition_waits(
    store: Store, target: StoreTarget
) -> None:
    a = replica(store, target, "a")
    await a.join()
    await a.tick(RECIPES)
    async with store.engine.connect() as other:  # another replica creating a lease row
        await other.execute(text("BEGIN"))
        await other.execute(text(
            "INSERT INTO leases (recipe, owner, epoch, acquired_at, renewed_at, expires_at) "
            "VALUES ('new-recipe', NULL, 0, 0, 0, 0)"))
        acquiring = asyncio.create_task(a.rebalance([*RECIPES, "new-recipe"]))
        await asyncio.sleep(0.3)
        assert not acquiring.done()  # waits for the other transaction's row
        target.clock.advance(1)
        beat = await asyncio.wait_for(a.heartbeat(), 2)  # not behind the acquisition
        assert beat.lost == []
        async with store.engine.begin() as conn:
            expiries = {le.expires_at for le in await list_leases(conn) if le.owner == "a"}
        assert expiries == {target.clock() + TTL_S}  # every lease, one statement
        await other.rollback()
    assert (await acquiring).acquired == ["new-recipe"]


@ONLY_POSTGRES
async def test_a_commit_in_flight_delays_only_its_own_takeover(
    store: Store, target: StoreTarget
) -> None:
    a, b = replica(store, target, "a"), replica(store, target, "b")
    await a.join()
    await a.tick(RECIPES)
    target.clock.advance(TTL_S + 1)  # a paused mid-commit of recipe-0 past its leases
    await b.join()
    async with store.engine.connect() as paused:
        await paused.execute(text("BEGIN"))
        await paused.execute(select(cursors).where(cursors.c.recipe == "recipe-0")
                             .with_for_update())
        taken = await asyncio.wait_for(b.tick(RECIPES), 2)
        assert set(taken.acquired) == set(RECIPES) - {"recipe-0"}
        await paused.rollback()
    assert (await b.rebalance(RECIPES)).acquired == ["recipe-0"]


async def test_the_loops_take_a_dead_peers_recipes_within_the_lease_ttl(
    store: Store, target: StoreTarget
) -> None:
    ttl_s = 1.2
    a, b = (Coordinator(store.engine, ClusterSettings(name, ttl_s)) for name in ("a", "b"))
    for coordinator in (a, b):
        await coordinator.join()
    with capture_logs() as logs:
        loops = {c.replica_id: asyncio.create_task(c.run(lambda: RECIPES, lambda _: None))
                 for c in (a, b)}
        try:
            await until(lambda: bool(a.owned) and bool(b.owned) and
                        len(a.owned) + len(b.owned) == len(RECIPES), 5)
            await asyncio.sleep(3 * ttl_s)  # steady: nothing lapses, nothing moves
            assert len(a.owned) + len(b.owned) == len(RECIPES)
            loops["b"].cancel()  # b dies without leaving
            died = time.monotonic()
            await until(lambda: len(a.owned) == len(RECIPES), 2 * ttl_s)
            took_s = time.monotonic() - died
        finally:
            for task in loops.values():
                task.cancel()
            await asyncio.gather(*loops.values(), return_exceptions=True)
    assert took_s <= ttl_s + a.settings.heartbeat_interval_s
    assert not [e for e in logs if e["event"] in ("lease.lost", "cluster.heartbeat_failed",
                                                  "cluster.rebalance_failed")]


@ONLY_POSTGRES
async def test_on_its_own_thread_the_coordinator_renews_while_the_callers_loop_is_blocked(
    store: Store, target: StoreTarget
) -> None:
    ttl_s = 1.0
    coordinator = Coordinator(target.engine(), ClusterSettings("a", ttl_s))
    runner = CoordinatorThread(coordinator)
    acquired: list[str] = []
    try:
        await runner.call(coordinator.join())
        await runner.start(lambda: RECIPES, acquired.extend)
        await until(lambda: len(acquired) == len(RECIPES), 5)
        time.sleep(3 * ttl_s)  # noqa: ASYNC251 - the daemon's loop stuck in a long callback
        assert all(coordinator.epoch_for(recipe) is not None for recipe in RECIPES)
        now_s = time.time()
        async with store.engine.begin() as conn:
            assert [r.id for r in await list_replicas(conn, now_s)] == ["a"]
            assert all(le.owner == "a" and le.expires_at > now_s
                       for le in await list_leases(conn))
        await runner.stop()
        await runner.call(coordinator.leave())
    finally:
        await runner.close()
    assert sorted(acquired) == sorted(RECIPES)  # told on the caller's loop, once each


async def until(condition: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_lost_claim_is_dropped_without_failing_the_rest_of_the_batch(
    store: Store, target: StoreTarget
) -> None:
    await store.commit_poll("w", [NewEvent("k1", 1), NewEvent("k2", 2)], {"n": 2}, 0)
    first, second = await store.claim_jobs("w1", "w", 2, 5.0)
    target.clock.advance(6)  # w1 was paused past its claims; w2 takes the oldest job over
    assert [job.id for job in await store.claim_jobs("w2", "w", 1, 5.0)] == [first.id]
    writer = GroupWriter(store)
    with capture_logs() as logs:
        outcomes = await asyncio.gather(
            writer.write([], [JobOutcome(first.id, JobStatus.SUCCEEDED, None, "w1")]),
            writer.write([], [JobOutcome(second.id, JobStatus.SUCCEEDED, None, "w1")]),
            return_exceptions=True)
    await writer.close()
    assert isinstance(outcomes[0], ClaimLost) and outcomes[1] is None
    assert next(e for e in logs if e["event"] == "job.claim_lost")["job"] == first.id
    jobs = {job.id: job for job in await store.list_jobs("w")}
    assert jobs[first.id].status is JobStatus.RUNNING and jobs[first.id].claimed_by == "w2"
    assert jobs[second.id].status is JobStatus.SUCCEEDED


replica_ids = st.sets(st.text("abcdefgh", min_size=1, max_size=4), min_size=2, max_size=6)


@given(replicas=replica_ids, recipes=st.sets(st.text(min_size=1, max_size=8), max_size=40))
def test_a_leaving_replica_moves_only_its_own_recipes(
    replicas: set[str], recipes: set[str]
) -> None:
    leaving = sorted(replicas)[0]
    before = {recipe: owner_of(recipe, replicas) for recipe in recipes}
    after = {recipe: owner_of(recipe, replicas - {leaving}) for recipe in recipes}
    moved = {recipe for recipe in recipes if before[recipe] != after[recipe]}
    assert moved == {recipe for recipe in recipes if before[recipe] == leaving}
    shares = [assigned_to(r, recipes, replicas) for r in replicas]
    assert set().union(*shares) == recipes and sum(map(len, shares)) == len(recipes)
