"""Client credentials against the emulated Entra ID and AD FS, through real msal."""

from __future__ import annotations

import asyncio
import base64

import jwt

from connectors.auth import msal_app
from emulator import RunningEmulator
from emulator.directory import DEFAULT_TENANT
from emulator.identity.testing import add_app

CLIENT_ID = "11111111-1111-4111-8111-111111111111"
SECRET = "s3cret-value"


async def _confidential_app(emulator: RunningEmulator, roles: list[str] | None = None) -> dict:
    return await add_app(emulator, client_id=CLIENT_ID, client_secret=SECRET,
                         roles=roles or ["Dataverse.ReadWrite"])


async def _acquire(emulator: RunningEmulator, authority: str, secret: str = SECRET) -> dict:
    def run() -> dict:
        with msal_app(authority, CLIENT_ID, client_secret=secret,
                      ca_bundle=str(emulator.ca_file)) as app:
            return app.acquire_token_for_client([f"{emulator.base_url}/.default"])

    return await asyncio.to_thread(run)


async def test_msal_client_credentials_on_cloud_authority_gets_a_verifiable_app_token(
    emulator: RunningEmulator,
) -> None:
    registered = await _confidential_app(emulator)
    result = await _acquire(emulator, f"{emulator.base_url}/{DEFAULT_TENANT}")

    assert result["token_type"] == "Bearer"
    assert result["expires_in"] > 3000
    claims = emulator.state.signer.verify(result["access_token"], [emulator.base_url])
    assert claims["aud"] == emulator.base_url
    assert claims["iss"] == f"{emulator.base_url}/{DEFAULT_TENANT}/v2.0"
    assert claims["tid"] == DEFAULT_TENANT
    assert claims["appid"] == CLIENT_ID
    assert claims["oid"] == registered["service_principal_id"]
    assert claims["roles"] == ["Dataverse.ReadWrite"]
    assert "scp" not in claims and "upn" not in claims
    assert claims["iat"] <= claims["nbf"] < claims["exp"]


async def test_msal_client_credentials_on_adfs_authority(emulator: RunningEmulator) -> None:
    await _confidential_app(emulator)
    result = await _acquire(emulator, f"{emulator.base_url}/adfs")

    claims = emulator.state.signer.verify(result["access_token"], [emulator.base_url])
    assert claims["iss"] == f"{emulator.base_url}/adfs"
    assert "tid" not in claims


async def test_wrong_secret_is_invalid_client_aadsts7000215(emulator: RunningEmulator) -> None:
    await _confidential_app(emulator)
    result = await _acquire(emulator, f"{emulator.base_url}/{DEFAULT_TENANT}", secret="wrong")

    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215:")
    assert "wrong" not in result["error_description"]


async def test_wrong_secret_answers_401_with_the_seven_entra_error_fields(
    emulator: RunningEmulator,
) -> None:
    await _confidential_app(emulator)
    form = {"client_id": CLIENT_ID, "client_secret": "nope", "grant_type": "client_credentials",
            "scope": f"{emulator.base_url}/.default"}
    async with emulator.client_session() as http, http.post(
        f"{emulator.base_url}/{DEFAULT_TENANT}/oauth2/v2.0/token", data=form
    ) as resp:
        body = await resp.json()
    assert resp.status == 401
    assert set(body) == {"error", "error_description", "error_codes", "timestamp", "trace_id",
                         "correlation_id", "error_uri"}
    assert "Trace ID:" in body["error_description"]


async def test_secret_in_http_basic_is_accepted(emulator: RunningEmulator) -> None:
    await _confidential_app(emulator)
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    form = {"grant_type": "client_credentials", "scope": f"{emulator.base_url}/.default"}
    async with emulator.client_session() as http, http.post(
        f"{emulator.base_url}/{DEFAULT_TENANT}/oauth2/v2.0/token", data=form,
        headers={"Authorization": f"Basic {basic}"},
    ) as resp:
        body = await resp.json()
    assert resp.status == 200
    assert body["ext_expires_in"] == body["expires_in"]
    assert "refresh_token" not in body and "id_token" not in body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["appid"] == CLIENT_ID


async def test_client_credentials_without_dot_default_is_invalid_scope_aadsts70011(
    emulator: RunningEmulator,
) -> None:
    await _confidential_app(emulator)
    form = {"client_id": CLIENT_ID, "client_secret": SECRET, "grant_type": "client_credentials",
            "scope": f"{emulator.base_url}/user_impersonation"}
    async with emulator.client_session() as http, http.post(
        f"{emulator.base_url}/{DEFAULT_TENANT}/oauth2/v2.0/token", data=form
    ) as resp:
        body = await resp.json()
    assert resp.status == 400
    assert (body["error"], body["error_codes"]) == ("invalid_scope", [70011])


async def test_resource_parameter_on_v2_endpoint_is_rejected_aadsts901002(
    emulator: RunningEmulator,
) -> None:
    await _confidential_app(emulator)
    form = {"client_id": CLIENT_ID, "client_secret": SECRET, "grant_type": "client_credentials",
            "resource": emulator.base_url}
    async with emulator.client_session() as http, http.post(
        f"{emulator.base_url}/{DEFAULT_TENANT}/oauth2/v2.0/token", data=form
    ) as resp:
        body = await resp.json()
    assert (resp.status, body["error_codes"]) == (400, [901002])


async def test_adfs_accepts_resource_instead_of_scope(emulator: RunningEmulator) -> None:
    await _confidential_app(emulator)
    form = {"client_id": CLIENT_ID, "client_secret": SECRET, "grant_type": "client_credentials",
            "resource": emulator.base_url}
    async with emulator.client_session() as http, http.post(
        f"{emulator.base_url}/adfs/oauth2/token", data=form
    ) as resp:
        body = await resp.json()
    assert resp.status == 200
    assert "ext_expires_in" not in body and "client_info" not in body
    claims = emulator.state.signer.verify(body["access_token"], [emulator.base_url])
    assert claims["appid"] == CLIENT_ID
