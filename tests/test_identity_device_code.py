"""The device code flow through msal, and admin consent (AADSTS65001)."""

from __future__ import annotations

import asyncio
from typing import Any

import requests

from connectors.auth import msal_app
from emulator import RunningEmulator
from emulator.directory import DEFAULT_TENANT
from emulator.identity.testing import add_app, add_user, advance_clock, control

PUBLIC_APP = "66666666-6666-4666-8666-666666666666"
USERNAME, PASSWORD = "dee@emulator.test", "device-pw"


async def _tenant(emulator: RunningEmulator, **app: Any) -> None:
    await add_app(emulator, client_id=PUBLIC_APP, display_name="Device app", **app)
    await add_user(emulator, username=USERNAME, password=PASSWORD)


def _app(emulator: RunningEmulator) -> Any:
    return msal_app(f"{emulator.base_url}/{DEFAULT_TENANT}", PUBLIC_APP,
                    ca_bundle=str(emulator.ca_file))


def _scopes(emulator: RunningEmulator) -> list[str]:
    return [f"{emulator.base_url}/user_impersonation"]


async def test_msal_device_flow_signs_in_once_the_user_entered_the_code(
        emulator: RunningEmulator) -> None:
    await _tenant(emulator)

    def run() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        with _app(emulator) as app:
            flow = app.initiate_device_flow(scopes=_scopes(emulator))
            pending = app.acquire_token_by_device_flow(dict(flow), exit_condition=lambda _: True)
            asyncio.run_coroutine_threadsafe(control(
                emulator, "identity/device-codes/approve",
                {"user_code": flow["user_code"], "username": USERNAME}), loop).result()
            return flow, pending, app.acquire_token_by_device_flow(flow)

    loop = asyncio.get_running_loop()
    flow, pending, result = await asyncio.to_thread(run)
    assert flow["verification_uri"] == f"{emulator.base_url}/devicelogin"
    assert flow["user_code"] in flow["message"] and flow["expires_in"] == 900
    assert (pending["error"], pending["error_codes"]) == ("authorization_pending", [70016])
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == USERNAME


async def test_device_login_page_approves_and_an_old_code_expires(
        emulator: RunningEmulator) -> None:
    await _tenant(emulator)
    form = {"client_id": PUBLIC_APP, "scope": _scopes(emulator)[0]}
    endpoint = f"{emulator.base_url}/{DEFAULT_TENANT}/oauth2/v2.0"
    async with emulator.client_session() as http:
        async with http.post(f"{endpoint}/devicecode", data=form) as resp:
            first = await resp.json()
        async with http.post(f"{endpoint}/devicecode", data=form) as resp:
            second = await resp.json()
        async with http.post(first["verification_uri"], data={
                "user_code": first["user_code"], "username": USERNAME,
                "password": PASSWORD}) as resp:
            page = await resp.text()
        grant = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                 "client_id": PUBLIC_APP}
        async with http.post(f"{endpoint}/token",
                             data={**grant, "device_code": first["device_code"]}) as resp:
            tokens = await resp.json()
        await advance_clock(emulator, 901)
        async with http.post(f"{endpoint}/token",
                             data={**grant, "device_code": second["device_code"]}) as resp:
            expired = (resp.status, await resp.json())
    assert "You have signed in" in page
    assert "access_token" in tokens and "refresh_token" not in tokens  # no offline_access
    assert expired[0] == 400
    assert (expired[1]["error"], expired[1]["error_codes"]) == ("expired_token", [70019])


async def test_without_admin_consent_user_sign_ins_are_aadsts65001(
        emulator: RunningEmulator) -> None:
    await _tenant(emulator, consented=False, client_secret="s3cret")  # ROPC: confidential

    def sign_in() -> dict[str, Any]:
        with msal_app(f"{emulator.base_url}/{DEFAULT_TENANT}", PUBLIC_APP, client_secret="s3cret",
                      ca_bundle=str(emulator.ca_file)) as app:
            return app.acquire_token_by_username_password(USERNAME, PASSWORD, _scopes(emulator))

    refused = await asyncio.to_thread(sign_in)
    await control(emulator, f"identity/apps/{PUBLIC_APP}/consent", {"granted": True})
    allowed = await asyncio.to_thread(sign_in)
    assert (refused["error"], refused["error_codes"]) == ("invalid_grant", [65001])
    assert refused["suberror"] == "consent_required"
    assert f"application with ID '{PUBLIC_APP}' named 'Device app'" in \
        refused["error_description"]
    assert "access_token" in allowed


async def test_authorize_without_consent_redirects_consent_required(
        emulator: RunningEmulator) -> None:
    redirect = "http://localhost:8765/callback"
    await _tenant(emulator, consented=False, redirect_uris=[redirect])
    url = (f"{emulator.base_url}/{DEFAULT_TENANT}/oauth2/v2.0/authorize?client_id={PUBLIC_APP}"
           f"&response_type=code&redirect_uri={redirect}&scope=openid&code_challenge=x"
           "&code_challenge_method=S256&state=s")

    def get() -> requests.Response:
        return requests.get(url, verify=str(emulator.ca_file), allow_redirects=False,
                            timeout=10)

    reply = await asyncio.to_thread(get)
    assert reply.status_code == 302
    assert "error=consent_required" in reply.headers["Location"]
    assert "AADSTS65001" in requests.utils.unquote(reply.headers["Location"])
