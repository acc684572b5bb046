"""Metadata endpoints, and malformed token requests answered as Entra would (never a 500)."""

from __future__ import annotations

from typing import Any

import pytest

from emulator import RunningEmulator
from emulator.directory import DEFAULT_TENANT
from emulator.identity.testing import add_app, add_user


async def _get(emulator: RunningEmulator, path: str) -> tuple[int, Any]:
    async with emulator.client_session() as http, http.get(f"{emulator.base_url}{path}") as resp:
        return resp.status, await resp.json()


async def _post(emulator: RunningEmulator, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with emulator.client_session() as http, http.post(
        f"{emulator.base_url}{path}", **kwargs
    ) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("segment", [DEFAULT_TENANT, "organizations", "common"])
async def test_openid_configuration_points_at_https_endpoints_on_the_emulator(
    emulator: RunningEmulator, segment: str
) -> None:
    status, doc = await _get(emulator, f"/{segment}/v2.0/.well-known/openid-configuration")
    base = f"{emulator.base_url}/{segment}"
    assert status == 200
    assert doc["token_endpoint"] == f"{base}/oauth2/v2.0/token"
    assert doc["authorization_endpoint"] == f"{base}/oauth2/v2.0/authorize"
    assert doc["jwks_uri"] == f"{base}/discovery/v2.0/keys"
    if segment == DEFAULT_TENANT:
        assert doc["issuer"] == f"{emulator.base_url}/{DEFAULT_TENANT}/v2.0"


async def test_adfs_openid_configuration_uses_slashed_endpoints(emulator: RunningEmulator) -> None:
    status, doc = await _get(emulator, "/adfs/.well-known/openid-configuration")
    assert status == 200
    assert doc["issuer"] == f"{emulator.base_url}/adfs"
    assert doc["token_endpoint"] == f"{emulator.base_url}/adfs/oauth2/token/"
    assert doc["authorization_endpoint"] == f"{emulator.base_url}/adfs/oauth2/authorize/"


async def test_jwks_publishes_the_signing_key(emulator: RunningEmulator) -> None:
    status, keys = await _get(emulator, f"/{DEFAULT_TENANT}/discovery/v2.0/keys")
    assert status == 200
    assert [key["kid"] for key in keys["keys"]] == [emulator.state.signer.kid]


async def test_unknown_tenant_is_aadsts90002(emulator: RunningEmulator) -> None:
    status, body = await _get(emulator, "/nowhere.example/v2.0/.well-known/openid-configuration")
    assert (status, body["error"], body["error_codes"]) == (400, "invalid_request", [90002])


async def test_tenant_may_be_named_by_a_user_domain(emulator: RunningEmulator) -> None:
    await add_user(emulator, username="lin@contoso.test", password="pw")
    status, doc = await _get(emulator, "/contoso.test/v2.0/.well-known/openid-configuration")
    assert status == 200
    assert doc["issuer"] == f"{emulator.base_url}/{DEFAULT_TENANT}/v2.0"


async def test_instance_discovery_names_the_tenant_discovery_endpoint(
    emulator: RunningEmulator,
) -> None:
    endpoint = f"{emulator.base_url}/{DEFAULT_TENANT}/oauth2/v2.0/authorize"
    status, body = await _get(
        emulator, f"/common/discovery/instance?api-version=1.1&authorization_endpoint={endpoint}")
    assert status == 200
    assert body["tenant_discovery_endpoint"] == (
        f"{emulator.base_url}/{DEFAULT_TENANT}/v2.0/.well-known/openid-configuration")
    assert body["metadata"][0]["aliases"] == ["localhost"]


async def test_instance_discovery_refuses_other_hosts(emulator: RunningEmulator) -> None:
    status, body = await _get(
        emulator, "/common/discovery/instance?authorization_endpoint=https://other.test/x")
    assert (status, body["error"]) == (400, "invalid_instance")


async def test_user_realm_says_managed_for_known_domains(emulator: RunningEmulator) -> None:
    await add_user(emulator, username="kim@emulator.test", password="pw")
    _, known = await _get(emulator, "/common/userrealm/kim@emulator.test?api-version=1.0")
    _, unknown = await _get(emulator, "/common/userrealm/x@elsewhere.test?api-version=1.0")
    assert known["account_type"] == "Managed"
    assert unknown["account_type"] == "Unknown"


TOKEN = f"/{DEFAULT_TENANT}/oauth2/v2.0/token"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"json": {"grant_type": "client_credentials"}}, 900144),
        ({"data": b"\xff\xfe=%%%", "headers": {"Content-Type": "multipart/form-data"}}, 9002313),
        ({"data": {"grant_type": "magic", "client_id": "x"}}, 70003),
        ({"data": {"grant_type": "password"}, "headers": {"Authorization": "Basic !!"}}, 9002313),
        ({"data": {"grant_type": "password"}}, 900144),
        ({"data": {"grant_type": "password", "client_id": "nobody"}}, 700016),
    ],
    ids=["json-body", "broken-multipart", "unknown-grant", "bad-basic", "no-client", "no-app"],
)
async def test_malformed_token_requests_get_entra_errors_not_500(
    emulator: RunningEmulator, kwargs: dict[str, Any], code: int
) -> None:
    status, body = await _post(emulator, TOKEN, **kwargs)
    assert 400 <= status < 500
    assert body["error_codes"] == [code]


async def test_missing_username_in_password_grant_names_the_parameter(
    emulator: RunningEmulator,
) -> None:
    await add_app(emulator, client_id="p-1")
    status, body = await _post(emulator, TOKEN, data={"grant_type": "password",
                                                      "client_id": "p-1"})
    assert (status, body["error"], body["error_codes"]) == (400, "invalid_request", [900144])
    assert "'username'" in body["error_description"]


async def test_scopes_of_two_resources_are_invalid_scope(emulator: RunningEmulator) -> None:
    await add_app(emulator, client_id="p-2")
    await add_user(emulator, username="two@emulator.test", password="pw")
    form = {"grant_type": "password", "client_id": "p-2", "username": "two@emulator.test",
            "password": "pw", "scope": "https://a.test/user_impersonation https://b.test/x"}
    status, body = await _post(emulator, TOKEN, data=form)
    assert (status, body["error"], body["error_codes"]) == (400, "invalid_scope", [70011])


async def test_adfs_token_endpoint_answers_without_trailing_slash(
    emulator: RunningEmulator,
) -> None:
    status, body = await _post(emulator, "/adfs/oauth2/token", data={"grant_type": "password"})
    assert (status, set(body)) == (400, {"error", "error_description"})
