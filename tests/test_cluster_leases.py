"""Recipe leases and replica membership on the real store (SQLite and PostgreSQL): the
epoch fence under any interleaving of two replicas (one recipe at a time, and batches),
takeovers, concurrent batch takeovers, unique replica ids."""

from __future__ import annotations

import asyncio
import sys
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.cluster import ReplicaIdInUse, list_leases, list_replicas
from runner.cluster.leases import (
    Acquired,
    Taken,
    acquire_lease,
    acquire_leases,
    release_leases,
    renew_leases,
)
from runner.cluster.membership import join
from runner.store import NewEvent, StaleEpoch, Store
from tests.store_support import StoreTarget

pytest_plugins = ["tests.store_support"]

TTL_S = 10.0


async def acquire(store: Store, recipe: str, owner: str, now_s: float) -> Acquired | None:
    async with store.engine.begin() as conn:
        return await acquire_lease(conn, recipe, owner, TTL_S, now_s)


async def renew(store: Store, recipe: str, owner: str, epoch: int, now_s: float) -> bool:
    async with store.engine.begin() as conn:
        return recipe in await renew_leases(conn, owner, {recipe: epoch}, TTL_S, now_s)


async def release(store: Store, recipe: str, owner: str, epoch: int, now_s: float) -> bool:
    async with store.engine.begin() as conn:
        return await release_leases(conn, owner, {recipe: epoch}, now_s) == 1


class Model:
    """What the database must say: the last epoch handed out and who holds it until when."""

    def __init__(self) -> None:
        self.epoch = 0
        self.owner: str | None = None
        self.expires_at = 0.0
        self.believed: dict[str, int] = {}  # replica -> the epoch it thinks it holds
        self.cursor: dict[str, int] | None = None
        self.jobs = 0

    def free_for(self, who: str, now_s: float) -> bool:
        return self.owner in (None, who) or self.expires_at < now_s

    def holds(self, who: str) -> bool:
        return self.owner == who and self.believed.get(who) == self.epoch


operation = st.tuples(st.sampled_from(["acquire", "renew", "release", "expire", "commit"]),
                      st.sampled_from(["a", "b"]))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, max_size=30))
async def test_no_interleaving_of_two_replicas_advances_a_cursor_with_a_stale_epoch(
    store: Store, target: StoreTarget, ops: list[tuple[str, str]]
) -> None:
    recipe = f"prop-{uuid.uuid4().hex}"  # the store outlives examples; recipes do not
    clock, model = target.clock, Model()
    for step, (op, who) in enumerate(ops):
        now_s = clock()
        if op == "expire":
            clock.advance(TTL_S + 1)
        elif op == "acquire":
            got = await acquire(store, recipe, who, now_s)
            assert (got is not None) == model.free_for(who, now_s)
            if got is not None:
                assert got.lease.epoch == model.epoch + 1  # every takeover fences the past
                model.epoch, model.owner, model.expires_at = got.lease.epoch, who, now_s + TTL_S
                model.believed[who] = got.lease.epoch
        elif who in model.believed and op == "renew":
            renewed = await renew(store, recipe, who, model.believed[who], now_s)
            assert renewed == model.holds(who)
            if renewed:
                model.expires_at = now_s + TTL_S
            else:
                del model.believed[who]  # the daemon drops the recipe
        elif who in model.believed and op == "release":
            expected = model.holds(who)
            released = await release(store, recipe, who, model.believed.pop(who), now_s)
            assert released == expected
            if released:
                model.owner, model.expires_at = None, now_s
        elif who in model.believed and op == "commit":
            await _commit(store, recipe, who, step, model)
        await _check(store, recipe, model)


async def _commit(store: Store, recipe: str, who: str, step: int, model: Model) -> None:
    cursor = {"step": step}
    try:
        await store.commit_poll(recipe, [NewEvent(f"e{step}", step)], cursor,
                                model.believed[who])
    except StaleEpoch:
        assert model.believed[who] != model.epoch  # refused only when stale
    else:
        assert model.believed[who] == model.epoch  # a stale epoch never commits
        model.cursor, model.jobs = cursor, model.jobs + 1


async def _check(store: Store, recipe: str, model: Model) -> None:
    assert await store.load_cursor(recipe) == (model.cursor, model.epoch)
    assert len(await store.list_jobs(recipe, limit=100)) == model.jobs  # none from stale commits
    async with store.engine.begin() as conn:
        lease = next((le for le in await list_leases(conn) if le.recipe == recipe), None)
    if model.epoch:
        assert lease is not None and lease.epoch == model.epoch and lease.owner == model.owner


BATCH = 3
batch_operation = st.tuples(
    st.sampled_from(["acquire", "renew", "release", "expire", "commit"]),
    st.sampled_from(["a", "b"]),
    st.frozensets(st.integers(0, BATCH - 1), min_size=1),
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(batch_operation, max_size=25))
async def test_no_interleaving_of_batch_takeovers_advances_a_cursor_with_a_stale_epoch(
    store: Store, target: StoreTarget, ops: list[tuple[str, str, frozenset[int]]]
) -> None:
    prefix = f"batch-{uuid.uuid4().hex}"
    recipes = [f"{prefix}-{i}" for i in range(BATCH)]
    clock, models = target.clock, {recipe: Model() for recipe in recipes}
    for step, (op, who, which) in enumerate(ops):
        chosen, now_s = [recipes[i] for i in sorted(which)], clock()
        believed = {r: models[r].believed[who] for r in chosen if who in models[r].believed}
        if op == "expire":
            clock.advance(TTL_S + 1)
        elif op == "acquire":
            _check_taken(await acquire_all(store, chosen, who, now_s), models, who, now_s)
        elif op == "renew" and believed:
            async with store.engine.begin() as conn:  # one statement for all of them
                renewed = await renew_leases(conn, who, believed, TTL_S, now_s)
            for recipe in believed:
                model = models[recipe]
                assert (recipe in renewed) == model.holds(who)
                if recipe in renewed:
                    model.expires_at = now_s + TTL_S
                else:
                    del model.believed[who]
        elif op == "release" and believed:
            expected = [r for r in believed if models[r].holds(who)]
            async with store.engine.begin() as conn:
                assert await release_leases(conn, who, believed, now_s) == len(expected)
            for recipe in believed:
                del models[recipe].believed[who]
            for recipe in expected:
                models[recipe].owner, models[recipe].expires_at = None, now_s
        elif op == "commit":
            for recipe in believed:
                await _commit(store, recipe, who, step, models[recipe])
        for recipe in recipes:
            await _check(store, recipe, models[recipe])


async def acquire_all(store: Store, recipes: list[str], owner: str, now_s: float) -> Taken:
    async with store.engine.begin() as conn:
        return await acquire_leases(conn, recipes, owner, TTL_S, now_s)


def _check_taken(taken: Taken, models: dict[str, Model], who: str, now_s: float) -> None:
    """One transaction took exactly the free leases, each fencing its past."""
    assert not taken.contended  # nobody else is writing
    for recipe, model in models.items():
        got = taken.acquired.get(recipe)
        if got is None:
            if recipe in taken.held_until:
                assert not model.free_for(who, now_s)
                assert taken.held_until[recipe] == model.expires_at
            continue
        assert model.free_for(who, now_s)
        assert got.lease.epoch == model.epoch + 1
        model.epoch, model.owner, model.expires_at = got.lease.epoch, who, now_s + TTL_S
        model.believed[who] = got.lease.epoch


async def test_concurrent_batch_takeovers_never_share_a_recipe(
    store: Store, target: StoreTarget
) -> None:
    recipes = [f"shared-{i}" for i in range(20)]
    first = await acquire_all(store, recipes[:5], "a", target.clock())
    target.clock.advance(TTL_S + 1)  # a's five lapse: both may take them
    now_s = target.clock()
    takes = await asyncio.gather(*(acquire_all(store, list(reversed(recipes)), who, now_s)
                                   for who in ("a", "b", "c")))
    won = [set(taken.acquired) for taken in takes]
    assert set().union(*won) <= set(recipes) and sum(map(len, won)) == len(set().union(*won))
    for taken in takes:
        for recipe, got in taken.acquired.items():
            before = first.acquired[recipe].lease.epoch if recipe in first.acquired else 0
            assert got.lease.epoch == before + 1
            assert (await store.load_cursor(recipe))[1] == got.lease.epoch
    async with store.engine.begin() as conn:
        owners = {le.recipe: le.owner for le in await list_leases(conn)}
    assert all(owners[r] == who for taken, who in zip(takes, "abc", strict=True)
               for r in taken.acquired)


async def test_expired_lease_is_taken_over_and_the_old_owner_commits_nothing(
    store: Store, target: StoreTarget
) -> None:
    first = await acquire(store, "orders", "a", target.clock())
    assert first is not None and first.previous_owner is None
    assert await acquire(store, "orders", "b", target.clock()) is None  # a's lease is live
    target.clock.advance(TTL_S + 1)
    taken = await acquire(store, "orders", "b", target.clock())
    assert taken is not None and taken.previous_owner is None  # a's lease had lapsed
    assert taken.lease.epoch == first.lease.epoch + 1
    with pytest.raises(StaleEpoch):
        await store.commit_poll("orders", [NewEvent("k", 1)], {"n": 1}, first.lease.epoch)
    assert not await renew(store, "orders", "a", first.lease.epoch, target.clock())
    assert await store.list_jobs("orders") == []
    await store.commit_poll("orders", [NewEvent("k", 1)], {"n": 1}, taken.lease.epoch)
    assert await store.load_cursor("orders") == ({"n": 1}, taken.lease.epoch)


async def test_a_released_lease_is_taken_at_once(store: Store, target: StoreTarget) -> None:
    first = await acquire(store, "orders", "a", target.clock())
    assert first is not None
    assert await release(store, "orders", "a", first.lease.epoch, target.clock())
    taken = await acquire(store, "orders", "b", target.clock())
    assert taken is not None and taken.lease.epoch == first.lease.epoch + 1


async def test_a_second_live_replica_with_the_same_id_is_refused(
    store: Store, target: StoreTarget
) -> None:
    async with store.engine.begin() as conn:
        await join(conn, "replica-1", "host-a", 100, TTL_S, target.clock())
    with pytest.raises(ReplicaIdInUse) as refused:
        async with store.engine.begin() as conn:
            await join(conn, "replica-1", "host-b", 200, TTL_S, target.clock())
    assert "host-a" in str(refused.value) and "RECIPE_RUNNER_WORKER_ID" in str(refused.value)
    target.clock.advance(TTL_S + 1)  # the first one stopped heartbeating: the id is free
    async with store.engine.begin() as conn:
        await join(conn, "replica-1", "host-b", 200, TTL_S, target.clock())
        assert [r.host for r in await list_replicas(conn, target.clock())] == ["host-b"]


async def test_restart_on_the_same_host_after_kill_9_takes_the_id_at_once(
    store: Store, target: StoreTarget
) -> None:
    dead = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await dead.wait()  # its pid is free now
    async with store.engine.begin() as conn:
        await join(conn, "replica-1", "host-a", dead.pid, TTL_S, target.clock())
    async with store.engine.begin() as conn:  # its pid is gone: a predecessor, not a twin
        await join(conn, "replica-1", "host-a", 4242_4242, TTL_S, target.clock())
        assert [r.pid for r in await list_replicas(conn)] == [4242_4242]
