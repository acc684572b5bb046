"""The token lifecycle against the emulator: single-flight renewal, a simulated year with
keep-alive, revocation and re-login, secret rotation, and two replicas sharing one store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from connectors.auth.tokens import TokenProvider
from connectors.errors import AuthError
from emulator import RunningEmulator
from emulator.identity.testing import (
    advance_clock,
    revoke_refresh_tokens,
    set_token_settings,
)
from runner.connections import load_connections
from runner.store import ConnectionStatus
from tests.tokens_support import (
    USERNAME,
    connection,
    login_with_browser,
    seed_tenant,
    signed_in,
    token_manager,
    token_requests,
    write_connections,
)

DAY_S = 86_400


async def _clear_request_log(emulator: RunningEmulator) -> None:
    async with emulator.client_session() as http, http.delete(
        f"{emulator.base_url}/_emulator/requests"
    ) as resp:
        assert resp.status == 204


async def test_200_concurrent_callers_at_expiry_cause_one_token_request(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    write_connections(tmp_path, {"crm": connection(emulator, "password")})
    async with token_manager(emulator, tmp_path) as manager:
        tokens = manager.tokens("crm")
        first = await tokens.access_token()
        await _clear_request_log(emulator)
        await advance_clock(emulator, 3600)
        renewed = await asyncio.gather(*(tokens.access_token() for _ in range(200)))

    assert isinstance(tokens, TokenProvider)
    assert len(set(renewed)) == 1 and renewed[0] != first
    assert [r["status"] for r in await token_requests(emulator)] == [200]


async def test_401_renewal_is_shared_by_callers_already_waiting(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    write_connections(tmp_path, {"crm": connection(emulator)})
    async with token_manager(emulator, tmp_path) as manager:
        tokens = manager.tokens("crm")
        first = await tokens.access_token()
        renewed = await asyncio.gather(*(tokens.on_unauthorized() for _ in range(20)))

    assert len(set(renewed)) == 1 and renewed[0] != first
    assert len(await token_requests(emulator)) == 2


async def test_simulated_year_with_daily_keep_alive_never_fails(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await signed_in(emulator, tmp_path)
    await set_token_settings(emulator, access_token_lifetime_s=3600,
                             refresh_token_inactivity_s=90 * DAY_S)
    failures = []
    async with token_manager(emulator, tmp_path) as manager, emulator.client_session() as http:
        tokens = manager.tokens("crm")
        for day in range(365):
            emulator.state.clock.advance(DAY_S)
            outcome = await manager.keep_alive()
            token = await tokens.access_token()
            async with http.get(f"{emulator.base_url}/api/data/v9.2/WhoAmI",
                                headers={"Authorization": f"Bearer {token}"}) as resp:
                if resp.status != 200 or outcome != {"crm": True}:
                    failures.append((day, resp.status, outcome))
        status = tokens.status

    assert failures == []
    assert status is ConnectionStatus.OK
    assert {r["status"] for r in await token_requests(emulator)} == {200}


async def test_idle_past_inactivity_window_names_aadsts700082(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await signed_in(emulator, tmp_path)
    async with token_manager(emulator, tmp_path) as manager:
        tokens = manager.tokens("crm")
        await tokens.access_token()
        await advance_clock(emulator, 91 * DAY_S)
        with pytest.raises(AuthError) as raised:
            await tokens.access_token()
        status = tokens.status
    assert raised.value.code == "AADSTS700082"
    assert "recipe-runner connections login crm" in raised.value.message
    assert status is ConnectionStatus.INVALID


async def test_revocation_marks_invalid_once_and_login_restores_ok(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await signed_in(emulator, tmp_path)
    seen: list[tuple[str, ConnectionStatus]] = []
    async with token_manager(emulator, tmp_path) as manager:
        manager.subscribe(lambda name, state, _reason: seen.append((name, state)))
        tokens = manager.tokens("crm")
        await tokens.access_token()
        await revoke_refresh_tokens(emulator, USERNAME)
        await advance_clock(emulator, 3600)
        with capture_logs() as logs:
            errors = []
            for _ in range(3):  # the engine retrying: one log line, one token request
                try:
                    await tokens.access_token()
                except AuthError as exc:
                    errors.append(exc)
        requests_while_invalid = await token_requests(emulator)
        stored = await manager.store.get_connection_state("crm")
        assert await manager.recheck() == []

        assert await login_with_browser(emulator, tmp_path, "crm") == 0
        assert await manager.recheck() == ["crm"]
        token = await tokens.access_token()
        status = tokens.status

    assert [e.code for e in errors] == ["AADSTS50173"] * 3
    invalid = [e for e in logs if e["event"] == "connection.invalid"]
    assert len(invalid) == 1
    assert invalid[0]["code"] == "AADSTS50173" and invalid[0]["connection"] == "crm"
    assert "revoked" in invalid[0]["meaning"]
    assert invalid[0]["fix"] == "run `recipe-runner connections login crm`"
    assert stored is not None and stored.state is ConnectionStatus.INVALID
    assert stored.reason is not None and stored.reason.startswith("AADSTS50173")
    assert [r["status"] for r in requests_while_invalid] == [200, 400]  # login, one refresh
    assert seen == [("crm", ConnectionStatus.INVALID), ("crm", ConnectionStatus.OK)]
    assert token and status is ConnectionStatus.OK


async def test_wrong_secret_is_invalid_until_the_file_is_fixed_and_reloaded(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    write_connections(tmp_path, {"crm": connection(emulator)}, client_secret="old-wrong")
    async with token_manager(emulator, tmp_path) as manager:
        tokens = manager.tokens("crm")
        try:
            await tokens.access_token()
        except AuthError as exc:
            code = exc.code
        assert (code, tokens.status) == ("AADSTS7000215", ConnectionStatus.INVALID)

        write_connections(tmp_path, {"crm": connection(emulator)})
        await manager.reload(load_connections(tmp_path / "connections.yaml"))
        assert await tokens.access_token()
        assert tokens.status is ConnectionStatus.OK


async def test_two_replicas_sharing_a_store_follow_each_others_rotations(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await signed_in(emulator, tmp_path)
    # Strict rotation: a redeemed refresh token is retired, so a stale one would show.
    await set_token_settings(emulator, refresh_token_strict_rotation=True)
    async with token_manager(emulator, tmp_path) as one, token_manager(emulator,
                                                                       tmp_path) as two:
        for _ in range(4):
            await one.tokens("crm").access_token(force_refresh=True)
            await two.tokens("crm").access_token(force_refresh=True)
        states = (one.tokens("crm").status, two.tokens("crm").status)
    assert states == (ConnectionStatus.OK, ConnectionStatus.OK)
    assert {r["status"] for r in await token_requests(emulator)} == {200}
