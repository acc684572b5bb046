"""Refresh tokens through msal's silent flow: rotation, inactivity, revocation and MFA."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msal
import pytest

from connectors.auth import msal_app
from emulator import RunningEmulator
from emulator.directory import DEFAULT_TENANT
from emulator.identity.testing import (
    add_app,
    add_user,
    advance_clock,
    require_mfa,
    revoke_refresh_tokens,
    set_token_settings,
)

CLIENT_ID = "55555555-5555-4555-8555-555555555555"
SECRET = "refresh-secret"
USERNAME, PASSWORD = "alan@emulator.test", "turing-pw"


async def _tenant(emulator: RunningEmulator) -> None:
    await add_app(emulator, client_id=CLIENT_ID, client_secret=SECRET)
    await add_user(emulator, username=USERNAME, password=PASSWORD)


Between = Callable[[], Awaitable[object]]


class Session:
    """One msal app (fresh per scenario: msal caches 400s for 60 s) signed in by ROPC."""

    def __init__(self, emulator: RunningEmulator, segment: str = DEFAULT_TENANT) -> None:
        self.emulator = emulator
        self.scopes = [f"{emulator.base_url}/user_impersonation"]
        self.authority = f"{emulator.base_url}/{segment}"
        self.loop = asyncio.get_running_loop()

    def sign_in(self) -> dict[str, Any]:
        with self._app() as app:
            return app.acquire_token_by_username_password(USERNAME, PASSWORD, self.scopes)

    async def sign_in_then_refresh(self, between: Between | None = None) -> Refreshed:
        return await asyncio.to_thread(self._sign_in_then_refresh, between)

    def _sign_in_then_refresh(self, between: Between | None) -> Refreshed:
        cache = msal.SerializableTokenCache()
        with self._app(cache) as app:
            first = app.acquire_token_by_username_password(USERNAME, PASSWORD, self.scopes)
            if between is not None:  # e.g. a control call, made on the test's event loop
                asyncio.run_coroutine_threadsafe(between(), self.loop).result()
            account = app.get_accounts(username=USERNAME)[0]
            result = app.acquire_token_silent_with_error(self.scopes, account,
                                                         force_refresh=True)
            cached = list(cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN))
        return Refreshed(first, result or {}, [entry["secret"] for entry in cached])

    def _app(self, cache: msal.TokenCache | None = None) -> Any:
        return msal_app(self.authority, CLIENT_ID, client_secret=SECRET,
                        ca_bundle=str(self.emulator.ca_file), token_cache=cache)


@dataclass
class Refreshed:
    first: dict[str, Any]  # the sign-in's result
    result: dict[str, Any]  # the forced silent refresh's result (or error)
    cached_refresh_tokens: list[str]  # what msal holds afterwards


async def _redeem_raw(emulator: RunningEmulator, refresh_token: str,
                      segment: str = DEFAULT_TENANT) -> tuple[int, dict[str, Any]]:
    form = {"client_id": CLIENT_ID, "client_secret": SECRET, "grant_type": "refresh_token",
            "refresh_token": refresh_token, "scope": f"{emulator.base_url}/user_impersonation"}
    path = "adfs/oauth2/token/" if segment == "adfs" else f"{segment}/oauth2/v2.0/token"
    async with emulator.client_session() as http, http.post(
        f"{emulator.base_url}/{path}", data=form
    ) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("segment", [DEFAULT_TENANT, "adfs"])
async def test_silent_refresh_rotates_and_the_old_refresh_token_stays_valid(
    emulator: RunningEmulator, segment: str
) -> None:
    await _tenant(emulator)

    run = await Session(emulator, segment).sign_in_then_refresh()

    assert "access_token" in run.result, run.result
    old, new = run.first["refresh_token"], run.result["refresh_token"]
    assert new != old
    assert run.cached_refresh_tokens == [new]  # msal replaced the cached one in place
    status, body = await _redeem_raw(emulator, old, segment)  # Entra does not revoke it
    assert status == 200, body
    assert body["refresh_token"] not in (old, new)


@pytest.mark.parametrize("segment", [DEFAULT_TENANT, "adfs"])
async def test_strict_rotation_is_opt_in_and_rejects_a_redeemed_token_naming_the_setting(
    emulator: RunningEmulator, segment: str
) -> None:
    await _tenant(emulator)
    await set_token_settings(emulator, refresh_token_strict_rotation=True)

    run = await Session(emulator, segment).sign_in_then_refresh()
    old_status, old_body = await _redeem_raw(emulator, run.first["refresh_token"], segment)
    new_status, _ = await _redeem_raw(emulator, run.result["refresh_token"], segment)

    assert (old_status, old_body["error"]) == (400, "invalid_grant")
    assert "AADSTS70000" in old_body["error_description"]
    assert "refresh_token_strict_rotation" in old_body["error_description"]
    assert new_status == 200


async def test_refresh_after_the_inactivity_window_is_aadsts700082(
    emulator: RunningEmulator,
) -> None:
    await _tenant(emulator)
    await set_token_settings(emulator, refresh_token_inactivity_s=3600)
    first = await asyncio.to_thread(Session(emulator).sign_in)
    await advance_clock(emulator, 3601)

    status, body = await _redeem_raw(emulator, first["refresh_token"])

    assert (status, body["error"], body["error_codes"]) == (400, "invalid_grant", [700082])
    assert "inactive for 0.01:00:01" in body["error_description"]


async def test_msal_silent_refresh_after_90_idle_days_reports_aadsts700082(
    emulator: RunningEmulator,
) -> None:
    await _tenant(emulator)

    run = await Session(emulator).sign_in_then_refresh(lambda: advance_clock(emulator, 91 * 86400))

    assert (run.result["error"], run.result["error_codes"]) == ("invalid_grant", [700082])


async def test_msal_silent_refresh_of_revoked_token_reports_aadsts50173(
    emulator: RunningEmulator,
) -> None:
    await _tenant(emulator)

    run = await Session(emulator).sign_in_then_refresh(
        lambda: revoke_refresh_tokens(emulator, USERNAME))

    assert (run.result["error"], run.result["error_codes"]) == ("invalid_grant", [50173])


async def test_msal_silent_refresh_for_user_now_required_to_do_mfa_reports_aadsts50076(
    emulator: RunningEmulator,
) -> None:
    await _tenant(emulator)

    run = await Session(emulator).sign_in_then_refresh(lambda: require_mfa(emulator, USERNAME))

    assert (run.result["error"], run.result["error_codes"]) == ("invalid_grant", [50076])
    assert run.result["suberror"] == "basic_action"


async def test_mfa_refusal_does_not_spend_the_refresh_token(
    emulator: RunningEmulator,
) -> None:
    await _tenant(emulator)
    first = await asyncio.to_thread(Session(emulator).sign_in)
    await require_mfa(emulator, USERNAME)

    status, body = await _redeem_raw(emulator, first["refresh_token"])
    await require_mfa(emulator, USERNAME, required=False)
    status_after_clearing, _ = await _redeem_raw(emulator, first["refresh_token"])

    assert (status, body["error"], body["error_codes"]) == (400, "invalid_grant", [50076])
    assert body["suberror"] == "basic_action"
    assert status_after_clearing == 200  # a failed refresh does not spend the token


async def test_default_settings_say_strict_rotation_is_off(emulator: RunningEmulator) -> None:
    async with emulator.client_session() as http, http.get(
            f"{emulator.base_url}/_emulator/identity/token-settings") as resp:
        settings = await resp.json()
    assert settings["refresh_token_strict_rotation"] is False


async def test_adfs_refresh_token_expires_after_its_lifetime(emulator: RunningEmulator) -> None:
    await _tenant(emulator)
    first = await asyncio.to_thread(Session(emulator, "adfs").sign_in)
    await advance_clock(emulator, 8 * 3600 + 1)

    status, body = await _redeem_raw(emulator, first["refresh_token"], "adfs")

    assert (status, body["error"]) == (400, "invalid_grant")
    assert set(body) == {"error", "error_description"}
