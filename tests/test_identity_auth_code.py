"""Authorization code + PKCE: msal's flow API with auto-sign-in, and the code's checks."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from connectors.auth import msal_app
from emulator import RunningEmulator
from emulator.directory import DEFAULT_TENANT
from emulator.identity.codes import s256
from emulator.identity.testing import add_app, add_user, auto_sign_in, follow_authorize

CLIENT_ID = "44444444-4444-4444-8444-444444444444"
SECRET = "web-app-secret"
REDIRECT = "http://localhost:8765/callback"
USERNAME, PASSWORD = "grace@emulator.test", "hopper-pw"
VERIFIER = "v" * 50


async def _tenant(emulator: RunningEmulator, *, auto: bool = True) -> dict[str, Any]:
    await add_app(emulator, client_id=CLIENT_ID, client_secret=SECRET, redirect_uris=[REDIRECT])
    user = await add_user(emulator, username=USERNAME, password=PASSWORD)
    if auto:
        await auto_sign_in(emulator, USERNAME)
    return user


def _msal_code_flow(emulator: RunningEmulator, authority: str) -> tuple[dict, dict]:
    ca = str(emulator.ca_file)
    with msal_app(authority, CLIENT_ID, client_secret=SECRET, ca_bundle=ca) as app:
        flow = app.initiate_auth_code_flow([f"{emulator.base_url}/user_impersonation"],
                                           redirect_uri=REDIRECT, response_mode="form_post")
        auth_response = follow_authorize(flow["auth_uri"], ca)
        result = app.acquire_token_by_auth_code_flow(flow, auth_response)
        return result, auth_response


def _authorize_url(emulator: RunningEmulator, segment: str = DEFAULT_TENANT,
                   **overrides: str) -> str:
    params = {"client_id": CLIENT_ID, "response_type": "code", "redirect_uri": REDIRECT,
              "scope": f"{emulator.base_url}/user_impersonation openid offline_access",
              "state": "st-1", "nonce": "n-1", "code_challenge": s256(VERIFIER),
              "code_challenge_method": "S256", **overrides}
    path = "adfs/oauth2/authorize/" if segment == "adfs" else f"{segment}/oauth2/v2.0/authorize"
    return f"{emulator.base_url}/{path}?{urlencode(params)}"


async def _raw_code(emulator: RunningEmulator) -> str:
    async with emulator.client_session() as http, http.get(
        _authorize_url(emulator), allow_redirects=False
    ) as resp:
        assert resp.status == 302
        return dict(parse_qsl(urlsplit(resp.headers["Location"]).query))["code"]


async def _redeem(emulator: RunningEmulator, code: str, verifier: str = VERIFIER,
                  redirect_uri: str = REDIRECT) -> tuple[int, dict[str, Any]]:
    form = {"client_id": CLIENT_ID, "client_secret": SECRET, "grant_type": "authorization_code",
            "code": code, "code_verifier": verifier, "redirect_uri": redirect_uri,
            "scope": f"{emulator.base_url}/user_impersonation openid"}
    async with emulator.client_session() as http, http.post(
        f"{emulator.base_url}/{DEFAULT_TENANT}/oauth2/v2.0/token", data=form
    ) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("segment", [DEFAULT_TENANT, "organizations", "adfs"])
async def test_msal_auth_code_flow_with_auto_sign_in(emulator: RunningEmulator,
                                                     segment: str) -> None:
    user = await _tenant(emulator)
    authority = f"{emulator.base_url}/{segment}"
    result, _ = await asyncio.to_thread(_msal_code_flow, emulator, authority)

    assert "error" not in result, result
    claims = emulator.state.signer.verify(result["access_token"], [emulator.base_url])
    assert (claims["oid"], claims["upn"]) == (user["object_id"], USERNAME)
    assert result["refresh_token"]
    assert result["id_token_claims"]["oid"] == user["object_id"]  # msal also checked the nonce


async def test_reused_code_is_aadsts54005(emulator: RunningEmulator) -> None:
    await _tenant(emulator)
    code = await _raw_code(emulator)

    first_status, first = await _redeem(emulator, code)
    second_status, second = await _redeem(emulator, code)

    assert first_status == 200 and first["id_token"].count(".") == 2
    assert (second_status, second["error"], second["error_codes"]) == (400, "invalid_grant",
                                                                       [54005])


async def test_code_already_redeemed_by_msal_is_rejected(emulator: RunningEmulator) -> None:
    await _tenant(emulator)
    _, auth_response = await asyncio.to_thread(
        _msal_code_flow, emulator, f"{emulator.base_url}/{DEFAULT_TENANT}")
    status, body = await _redeem(emulator, auth_response["code"])
    assert (status, body["error_codes"]) == (400, [54005])


async def test_pkce_verifier_mismatch_is_aadsts501481(emulator: RunningEmulator) -> None:
    await _tenant(emulator)
    status, body = await _redeem(emulator, await _raw_code(emulator), verifier="w" * 50)
    assert (status, body["error"], body["error_codes"]) == (400, "invalid_grant", [501481])


async def test_unknown_code_is_aadsts70008(emulator: RunningEmulator) -> None:
    await _tenant(emulator)
    status, body = await _redeem(emulator, "not-a-code")
    assert (status, body["error"], body["error_codes"]) == (400, "invalid_grant", [70008])


async def test_redeeming_with_another_redirect_uri_is_refused(emulator: RunningEmulator) -> None:
    await _tenant(emulator)
    code = await _raw_code(emulator)
    status, body = await _redeem(emulator, code, redirect_uri="http://localhost:9999/other")
    assert (status, body["error"], body["error_codes"]) == (400, "invalid_grant", [500112])


async def test_id_token_carries_the_authorize_nonce_verbatim(emulator: RunningEmulator) -> None:
    await _tenant(emulator)
    _, body = await _redeem(emulator, await _raw_code(emulator))
    claims = emulator.state.signer.verify(body["id_token"], [CLIENT_ID])
    assert claims["nonce"] == "n-1"
    assert claims["preferred_username"] == USERNAME


async def test_unregistered_redirect_uri_is_an_error_page_not_a_redirect(
    emulator: RunningEmulator,
) -> None:
    await _tenant(emulator)
    url = _authorize_url(emulator, redirect_uri="https://evil.example/steal")
    async with emulator.client_session() as http, http.get(url, allow_redirects=False) as resp:
        text = await resp.text()
    assert resp.status == 400
    assert "Location" not in resp.headers
    assert "AADSTS50011" in text


async def test_missing_pkce_redirects_back_with_invalid_request(
    emulator: RunningEmulator,
) -> None:
    await _tenant(emulator)
    url = _authorize_url(emulator, code_challenge="")
    async with emulator.client_session() as http, http.get(url, allow_redirects=False) as resp:
        location = resp.headers["Location"]
    params = dict(parse_qsl(urlsplit(location).query))
    assert resp.status == 302 and location.startswith(REDIRECT)
    assert (params["error"], params["state"]) == ("invalid_request", "st-1")
    assert "code" not in params


async def test_without_auto_sign_in_a_person_signs_in_through_the_form(
    emulator: RunningEmulator,
) -> None:
    await _tenant(emulator, auto=False)
    url = _authorize_url(emulator, segment="adfs")
    async with emulator.client_session() as http:
        async with http.get(url, allow_redirects=False) as page:
            assert page.status == 200
            assert '<form method="post"' in await page.text()
        wrong = {"username": USERNAME, "password": "nope"}
        async with http.post(url, data=wrong, allow_redirects=False) as retry:
            assert retry.status == 200
            assert "incorrect" in await retry.text()
        right = {"username": USERNAME, "password": PASSWORD}
        async with http.post(url, data=right, allow_redirects=False) as done:
            params = dict(parse_qsl(urlsplit(done.headers["Location"]).query))
    assert done.status == 302
    assert params["state"] == "st-1" and params["code"]
