"""One token refresh per connection across replicas: two token managers on one PostgreSQL,
each with its own store connection pool and msal app, like two replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from cryptography.fernet import Fernet

from emulator import RunningEmulator
from emulator.identity.testing import set_token_settings
from runner.connections import load_connections
from runner.store import Store
from runner.tokens import TokenManager
from tests.tokens_support import connection, seed_tenant, token_requests, write_connections

pytest_plugins = ["tests.cluster_support"]

ROUNDS = 4


@asynccontextmanager
async def replicas(emulator: RunningEmulator, folder: Path, url: str,
                   count: int) -> AsyncIterator[list[TokenManager]]:
    file = load_connections(folder / "connections.yaml")
    fernet = Fernet(Fernet.generate_key())  # shared, as RECIPE_RUNNER_SECRET_KEY would be
    async with AsyncExitStack() as stack:
        managers = []
        for _ in range(count):
            store = await stack.enter_async_context(await Store.open(url))
            manager = TokenManager(file, store, fernet, clock=emulator.state.clock.time)
            stack.callback(manager.close)
            await manager.start()
            managers.append(manager)
        yield managers


async def test_replicas_refreshing_at_once_never_redeem_the_same_refresh_token(
    emulator: RunningEmulator, tmp_path: Path, cluster_url: str
) -> None:
    await seed_tenant(emulator)
    # Strict rotation: a redeemed refresh token is retired, so a second redemption shows.
    await set_token_settings(emulator, refresh_token_strict_rotation=True)
    write_connections(tmp_path, {"crm": connection(emulator, "password")})
    async with replicas(emulator, tmp_path, cluster_url, 3) as managers:
        await managers[0].tokens("crm").access_token()  # the password grant, once
        for _ in range(ROUNDS):  # every replica forces a refresh at the same moment
            await asyncio.gather(*(m.tokens("crm").access_token(force_refresh=True)
                                   for m in managers))
    statuses = [r["status"] for r in await token_requests(emulator)]
    # A redeemed refresh token is retired: a second redemption would be a 400 and a
    # fallback to the password grant. Serialised, each replica redeems the newest one.
    assert statuses == [200] * (1 + ROUNDS * len(managers))


async def test_a_replica_adopts_the_token_another_replica_just_refreshed(
    emulator: RunningEmulator, tmp_path: Path, cluster_url: str
) -> None:
    await seed_tenant(emulator)
    write_connections(tmp_path, {"crm": connection(emulator, "password")})
    async with replicas(emulator, tmp_path, cluster_url, 2) as (first, second):
        token = await first.tokens("crm").access_token()
        assert await second.tokens("crm").access_token() == token
    assert len(await token_requests(emulator)) == 1
