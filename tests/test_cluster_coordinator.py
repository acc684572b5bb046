"""The replica loop on the real store: fair share, rebalancing on join and leave, a paused
replica that stops polling by itself and loses its recipes; rendezvous hashing; fenced
job completion in the group writer."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from runner.cluster import ClusterSettings, Coordinator, assigned_to, owner_of
from runner.engine.writer import GroupWriter
from runner.store import ClaimLost, JobOutcome, JobStatus, NewEvent, StaleEpoch, Store
from tests.store_support import StoreTarget

pytest_plugins = ["tests.store_support"]

TTL_S = 8.0
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
