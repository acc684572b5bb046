"""The password grant (ROPC) through real msal, on Entra and AD FS, and msal's transport."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import requests

from connectors.auth import MsalHttpClient, msal_app
from emulator import RunningEmulator
from emulator.directory import DEFAULT_TENANT
from emulator.identity.claims import b64url_json
from emulator.identity.testing import add_app, add_user, require_mfa

PUBLIC_ID = "22222222-2222-4222-8222-222222222222"
CONFIDENTIAL_ID = "33333333-3333-4333-8333-333333333333"
SECRET = "confidential-secret"
USERNAME, PASSWORD = "ada@emulator.test", "correct-horse"


async def _tenant(emulator: RunningEmulator) -> dict[str, Any]:
    await add_app(emulator, client_id=PUBLIC_ID)
    await add_app(emulator, client_id=CONFIDENTIAL_ID, client_secret=SECRET)
    return await add_user(emulator, username=USERNAME, password=PASSWORD, display_name="Ada")


def _ropc(emulator: RunningEmulator, authority: str, password: str = PASSWORD,
          secret: str | None = None) -> dict[str, Any]:
    client_id = CONFIDENTIAL_ID if secret else PUBLIC_ID
    scopes = [f"{emulator.base_url}/user_impersonation"]
    with msal_app(authority, client_id, client_secret=secret,
                  ca_bundle=str(emulator.ca_file)) as app:
        if secret:
            return app.acquire_token_by_username_password(USERNAME, password, scopes)
        # msal deprecates ROPC for public clients; this test uses it on purpose.
        with pytest.warns(DeprecationWarning, match="deprecated for public client"):
            return app.acquire_token_by_username_password(USERNAME, password, scopes)


@pytest.mark.parametrize("secret", [None, SECRET], ids=["public", "confidential"])
async def test_msal_password_grant_on_cloud_authority_gets_user_tokens(
    emulator: RunningEmulator, secret: str | None
) -> None:
    user = await _tenant(emulator)
    authority = f"{emulator.base_url}/{DEFAULT_TENANT}"
    result = await asyncio.to_thread(_ropc, emulator, authority, PASSWORD, secret)

    claims = emulator.state.signer.verify(result["access_token"], [emulator.base_url])
    assert (claims["oid"], claims["upn"], claims["tid"]) == (user["object_id"], USERNAME,
                                                             DEFAULT_TENANT)
    assert claims["scp"] == "user_impersonation"
    assert "roles" not in claims
    assert result["refresh_token"]
    assert result["id_token_claims"]["preferred_username"] == USERNAME
    # client_info=1 → MSAL keys the account as uid.utid
    assert result["client_info"] == b64url_json({"uid": user["object_id"],
                                                 "utid": DEFAULT_TENANT})


@pytest.mark.parametrize("secret", [None, SECRET], ids=["public", "confidential"])
async def test_msal_password_grant_on_adfs_authority(
    emulator: RunningEmulator, secret: str | None
) -> None:
    await _tenant(emulator)
    result = await asyncio.to_thread(_ropc, emulator, f"{emulator.base_url}/adfs", PASSWORD,
                                     secret)

    claims = emulator.state.signer.verify(result["access_token"], [emulator.base_url])
    assert claims["upn"] == USERNAME
    assert result["refresh_token_expires_in"] == 8 * 3600
    assert "client_info" not in result


async def test_wrong_password_is_invalid_grant_aadsts50126(emulator: RunningEmulator) -> None:
    await _tenant(emulator)
    authority = f"{emulator.base_url}/{DEFAULT_TENANT}"
    result = await asyncio.to_thread(_ropc, emulator, authority, "wrong", SECRET)

    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [50126]
    assert "AADSTS50126" in result["error_description"]


async def test_password_grant_for_mfa_user_is_aadsts50076_with_suberror(
    emulator: RunningEmulator,
) -> None:
    await _tenant(emulator)
    await require_mfa(emulator, USERNAME)
    authority = f"{emulator.base_url}/{DEFAULT_TENANT}"
    result = await asyncio.to_thread(_ropc, emulator, authority, PASSWORD, SECRET)

    assert (result["error"], result["error_codes"]) == ("invalid_grant", [50076])
    assert result["suberror"] == "basic_action"


async def test_password_grant_on_common_is_refused_aadsts9001023(
    emulator: RunningEmulator,
) -> None:
    await _tenant(emulator)
    form = {"client_id": PUBLIC_ID, "grant_type": "password", "username": USERNAME,
            "password": PASSWORD, "scope": f"{emulator.base_url}/user_impersonation"}
    async with emulator.client_session() as http, http.post(
        f"{emulator.base_url}/common/oauth2/v2.0/token", data=form
    ) as resp:
        body = await resp.json()
    assert (resp.status, body["error_codes"]) == (400, [9001023])


async def test_public_client_sending_a_secret_is_aadsts700025(emulator: RunningEmulator) -> None:
    await _tenant(emulator)
    form = {"client_id": PUBLIC_ID, "client_secret": "x", "grant_type": "password",
            "username": USERNAME, "password": PASSWORD,
            "scope": f"{emulator.base_url}/user_impersonation"}
    async with emulator.client_session() as http, http.post(
        f"{emulator.base_url}/organizations/oauth2/v2.0/token", data=form
    ) as resp:
        body = await resp.json()
    assert (resp.status, body["error"], body["error_codes"]) == (401, "invalid_client", [700025])


def test_user_realm_lookup_is_sent_back_to_the_authority_port() -> None:
    http = MsalHttpClient(None, authority_port=8443)
    try:
        assert (http.route("https://localhost/common/userrealm/a@b.test?api-version=1.0")
                == "https://localhost:8443/common/userrealm/a@b.test?api-version=1.0")
        assert http.route("https://localhost/t/oauth2/v2.0/token") == (
            "https://localhost/t/oauth2/v2.0/token")
        assert http.route("https://localhost:9/common/userrealm/x") == (
            "https://localhost:9/common/userrealm/x")
    finally:
        http.close()


async def test_msal_transport_trusts_the_given_ca_despite_requests_ca_bundle(
    emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The system bundle lacks the emulator's CA; requests would let it win over session.verify.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    url = f"{emulator.base_url}/_emulator/health"

    def ours() -> int:
        http = MsalHttpClient(str(emulator.ca_file), emulator.port)
        try:
            return http.get(url).status_code
        finally:
            http.close()

    def plain_session() -> None:
        with requests.Session() as http:
            http.verify = str(emulator.ca_file)
            http.get(url, timeout=10)

    assert await asyncio.to_thread(ours) == 200
    with pytest.raises(requests.exceptions.SSLError):
        await asyncio.to_thread(plain_session)
