"""Every grant on cloud and AD FS authorities, through the token manager and real msal, with
the token then accepted by the emulated Dataverse (v8.2 and v9.2 WhoAmI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator import RunningEmulator
from emulator.identity.testing import auto_sign_in
from runner.store import ConnectionStatus
from tests.tokens_support import (
    USERNAME,
    connection,
    free_port,
    login_with_browser,
    seed_tenant,
    token_manager,
    token_requests,
    write_connections,
)


async def _who_am_i(emulator: RunningEmulator, token: str, version: str) -> tuple[int, Any]:
    url = f"{emulator.base_url}/api/data/{version}/WhoAmI"
    async with emulator.client_session() as http, http.get(
        url, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("on_premise", [False, True], ids=["cloud", "adfs"])
@pytest.mark.parametrize("auth", ["client_credentials", "password"])
async def test_manager_token_is_accepted_by_who_am_i(
    emulator: RunningEmulator, tmp_path: Path, auth: str, on_premise: bool
) -> None:
    user = await seed_tenant(emulator)
    write_connections(tmp_path, {"crm": connection(emulator, auth, on_premise=on_premise)})
    async with token_manager(emulator, tmp_path) as manager:
        token = await manager.tokens("crm").access_token()
        status = manager.tokens("crm").status

    code, body = await _who_am_i(emulator, token, "v9.2")
    assert code == 200, body
    assert body["UserId"]
    if auth == "password":
        assert body["UserId"] == user["object_id"]
    assert status is ConnectionStatus.OK


@pytest.mark.parametrize("on_premise", [False, True], ids=["cloud", "adfs"])
async def test_authorization_code_connection_works_after_login(
    emulator: RunningEmulator, tmp_path: Path, on_premise: bool
) -> None:
    redirect = f"http://localhost:{free_port()}/callback"
    user = await seed_tenant(emulator, redirect)
    await auto_sign_in(emulator, USERNAME)
    conn = connection(emulator, "authorization_code", on_premise=on_premise,
                      redirect_uri=redirect)
    write_connections(tmp_path, {"crm": conn})
    async with token_manager(emulator, tmp_path) as manager:
        assert manager.tokens("crm").status is ConnectionStatus.NEVER_SIGNED_IN
        assert await login_with_browser(emulator, tmp_path, "crm") == 0
        token = await manager.tokens("crm").access_token()

    code, body = await _who_am_i(emulator, token, "v8.2")
    assert (code, body["UserId"]) == (200, user["object_id"])


async def test_custom_oauth_profile_supplies_app_authority_and_scopes(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    host = emulator.base_url.removeprefix("https://")
    conn = connection(emulator, client_id=None, client_secret=None, authority_host=None,
                      oauth_profile="corp")
    profile = {"client_id": connection(emulator)["client_id"],
               "client_secret": "${file:client_secret.txt}", "authority_host": host,
               "scopes": [f"{emulator.base_url}/api/data/.default"]}
    write_connections(tmp_path, {"crm": conn}, profiles={"corp": profile})
    async with token_manager(emulator, tmp_path) as manager:
        token = await manager.tokens("crm").access_token()

    claims = emulator.state.signer.verify(token, [f"{emulator.base_url}/api/data"])
    assert claims["aud"] == f"{emulator.base_url}/api/data"
    assert (await _who_am_i(emulator, token, "v9.2"))[0] == 200


async def test_resource_uri_narrows_the_requested_scope(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    conn = connection(emulator, "password",
                      resource_uri=f"{emulator.base_url}/api/data/v9.0/")
    write_connections(tmp_path, {"crm": conn})
    async with token_manager(emulator, tmp_path) as manager:
        token = await manager.tokens("crm").access_token()

    requests = await token_requests(emulator)
    assert [r["status"] for r in requests] == [200]
    assert (await _who_am_i(emulator, token, "v9.2"))[0] == 200


async def test_unreachable_authority_host_is_a_retryable_error(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    from connectors.errors import RetryableError

    port = free_port()
    write_connections(tmp_path, {"crm": connection(emulator, authority_host=f"localhost:{port}")})
    async with token_manager(emulator, tmp_path) as manager:
        with pytest.raises(RetryableError, match=f"unreachable at localhost:{port}: connection "
                                                 "refused"):
            await manager.tokens("crm").access_token()
        assert manager.tokens("crm").status is None


async def test_cached_token_is_reused_until_renew_ahead_window(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    from emulator.identity.testing import advance_clock

    await seed_tenant(emulator)
    write_connections(tmp_path, {"crm": connection(emulator)})
    async with token_manager(emulator, tmp_path, renew_ahead_s=300) as manager:
        tokens = manager.tokens("crm")
        first = await tokens.access_token()
        await advance_clock(emulator, 3600 - 301)
        assert await tokens.access_token() == first
        await advance_clock(emulator, 2)
        assert await tokens.access_token() != first
    assert len(await token_requests(emulator)) == 2
