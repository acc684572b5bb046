"""Token caches (compare-and-set), connection states and recipe states."""

from __future__ import annotations

import asyncio

import pytest

from runner.store import ConnectionStatus, Store, TokenCacheConflict
from tests.store_support import StoreTarget

pytest_plugins = ["tests.store_support"]


async def test_token_cache_round_trips_ciphertext_with_its_version(store: Store) -> None:
    assert await store.load_token_cache("crm") is None

    version = await store.save_token_cache("crm", b"\x00sealed-1", expected_version=0)
    version = await store.save_token_cache("crm", b"\x00sealed-2", expected_version=version)

    cache = await store.load_token_cache("crm")
    assert cache is not None
    assert (cache.ciphertext, cache.version) == (b"\x00sealed-2", 2)


async def test_token_cache_save_from_a_stale_version_raises_and_keeps_the_winner(
    store: Store,
) -> None:
    await store.save_token_cache("crm", b"v1", 0)
    await store.save_token_cache("crm", b"v2 by replica a", 1)

    with pytest.raises(TokenCacheConflict):
        await store.save_token_cache("crm", b"v2 by replica b", 1)
    with pytest.raises(TokenCacheConflict):
        await store.save_token_cache("crm", b"first save again", 0)

    cache = await store.load_token_cache("crm")
    assert cache is not None
    assert (cache.ciphertext, cache.version) == (b"v2 by replica a", 2)


async def test_concurrent_token_cache_saves_let_exactly_one_win(target: StoreTarget) -> None:
    stores = [await target.open() for _ in range(3)]
    try:
        await stores[0].save_token_cache("crm", b"v1", 0)
        outcomes = await asyncio.gather(
            *(s.save_token_cache("crm", f"{n}".encode(), 1) for n, s in enumerate(stores)),
            return_exceptions=True,
        )
    finally:
        for store in stores:
            await store.close()
    assert sorted(type(o).__name__ for o in outcomes) == [
        "TokenCacheConflict",
        "TokenCacheConflict",
        "int",
    ]


async def test_connection_state_is_recorded_and_replaced(store: Store) -> None:
    assert await store.get_connection_state("crm") is None

    await store.set_connection_state("crm", ConnectionStatus.OK)
    await store.set_connection_state("crm", ConnectionStatus.INVALID, "AADSTS700082")
    await store.set_connection_state("erp", ConnectionStatus.NEVER_SIGNED_IN)

    state = await store.get_connection_state("crm")
    assert state is not None
    assert (state.state, state.reason) == (ConnectionStatus.INVALID, "AADSTS700082")
    listed = [(s.connection, s.state) for s in await store.list_connection_states()]
    assert listed == [("crm", ConnectionStatus.INVALID), ("erp", ConnectionStatus.NEVER_SIGNED_IN)]


async def test_recipe_state_tracks_override_and_last_poll(
    store: Store, target: StoreTarget
) -> None:
    fresh = await store.get_recipe_state("leads")
    assert (fresh.enabled, fresh.last_poll_at, fresh.last_error) == (None, None, None)

    await store.set_recipe_enabled("leads", False)
    await store.record_poll_outcome("leads", "503 from Dataverse")

    state = await store.get_recipe_state("leads")
    assert (state.enabled, state.last_poll_at, state.last_error) == (
        False,
        target.clock.now_s,
        "503 from Dataverse",
    )
    await store.record_poll_outcome("leads")
    await store.set_recipe_enabled("leads", None)
    state = await store.get_recipe_state("leads")
    assert (state.enabled, state.last_error) == (None, None)
