"""Examples of Microsoft identity platform pages
(learn.microsoft.com/entra/identity-platform/…)."""

from __future__ import annotations

import asyncio

from connectors.auth import msal_app
from emulator import RunningEmulator
from emulator.directory import DEFAULT_TENANT
from emulator.identity.testing import add_app, add_user

CLIENT, SECRET = "12121212-1212-4121-8121-121212121212", "s"


async def test_old_refresh_token_is_not_revoked_when_used(emulator: RunningEmulator) -> None:
    """refresh-tokens: "Refresh tokens replace themselves with a fresh token upon every use.
    The Microsoft identity platform doesn't revoke old refresh tokens when used"."""
    await add_app(emulator, client_id=CLIENT, client_secret=SECRET)
    await add_user(emulator, username="rt@emulator.test", password="pw")
    scope = f"{emulator.base_url}/user_impersonation"

    def tokens() -> tuple[str, dict[str, object], dict[str, object]]:
        with msal_app(f"{emulator.base_url}/{DEFAULT_TENANT}", CLIENT, client_secret=SECRET,
                      ca_bundle=str(emulator.ca_file)) as app:
            first = app.acquire_token_by_username_password("rt@emulator.test", "pw", [scope])
            old = str(first["refresh_token"])
            return (old, app.acquire_token_by_refresh_token(old, [scope]),
                    app.acquire_token_by_refresh_token(old, [scope]))

    old, once, twice = await asyncio.to_thread(tokens)
    assert "access_token" in once and "access_token" in twice
    assert once["refresh_token"] != old


async def test_device_authorization_response_fields(emulator: RunningEmulator) -> None:
    """v2-oauth2-device-code: "Device authorization response" — device_code, user_code,
    verification_uri, expires_in, interval, message; and "authorization_pending" while the
    user has not signed in."""
    await add_app(emulator, client_id=CLIENT)
    endpoint = f"{emulator.base_url}/{DEFAULT_TENANT}/oauth2/v2.0"
    async with emulator.client_session() as http:
        async with http.post(f"{endpoint}/devicecode", data={
                "client_id": CLIENT, "scope": f"{emulator.base_url}/.default"}) as resp:
            flow = await resp.json()
        async with http.post(f"{endpoint}/token", data={
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "client_id": CLIENT, "device_code": flow["device_code"]}) as resp:
            pending = await resp.json()
    assert set(flow) == {"device_code", "user_code", "verification_uri", "expires_in",
                         "interval", "message"}
    assert pending["error"] == "authorization_pending"
    assert pending["error_codes"] == [70016]
