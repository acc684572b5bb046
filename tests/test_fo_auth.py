"""Bearer tokens on ``/data/``: the audience is the environment URL; 429s pass through faults."""

from __future__ import annotations

import asyncio
from typing import Any

from connectors.auth import msal_app
from emulator import RunningEmulator
from emulator.directory import DEFAULT_TENANT
from emulator.identity.testing import add_app
from tests.fo_support import customer, fo_api, mint_token

CLIENT_ID = "33333333-3333-4333-8333-333333333333"
SECRET = "fo-test-secret"


async def _msal_token(emulator: RunningEmulator) -> str:
    await add_app(emulator, client_id=CLIENT_ID, client_secret=SECRET)

    def run() -> dict[str, Any]:
        with msal_app(f"{emulator.base_url}/{DEFAULT_TENANT}", CLIENT_ID, client_secret=SECRET,
                      ca_bundle=str(emulator.ca_file)) as app:
            return app.acquire_token_for_client([f"{emulator.base_url}/.default"])

    result = await asyncio.to_thread(run)
    return str(result["access_token"])


async def test_msal_client_credentials_token_for_the_environment_reads_entities(
        emulator: RunningEmulator) -> None:
    token = await _msal_token(emulator)
    async with fo_api(emulator, token) as api:
        await api.insert("CustomersV3", [customer("US-001")])
        reply = await api.get("CustomersV3?$select=CustomerAccount")
    assert reply.status == 200
    assert [row["CustomerAccount"] for row in reply.json["value"]] == ["US-001"]


async def test_audience_with_a_trailing_slash_is_the_same_environment(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator, mint_token(emulator, emulator.base_url + "/")) as api:
        reply = await api.get("CustomersV3")
    assert reply.status == 200


async def test_tokens_for_another_audience_missing_or_expired_are_401(
        emulator: RunningEmulator) -> None:
    other = mint_token(emulator, "https://other.operations.dynamics.com")
    expired = mint_token(emulator, lifetime_s=-1)
    async with fo_api(emulator, other) as api:
        wrong = await api.get("CustomersV3")
        stale = await api.get("CustomersV3", headers={"Authorization": f"Bearer {expired}"})
        missing = await api.get("CustomersV3", headers={"Authorization": ""})
    for reply in (wrong, stale, missing):
        assert reply.status == 401
        assert reply.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
        assert reply.inner["type"] == "System.UnauthorizedAccessException"
    assert "another audience" in wrong.inner["message"]
    assert "expired" in stale.inner["message"]


async def test_a_throttling_fault_answers_429_with_retry_after(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        rule = {"path": "/data/CustomersV3*", "count": 1, "kind": "status", "status": 429,
                "retry_after_s": 7}
        async with api.http.post(f"{emulator.base_url}/_emulator/faults", json=rule) as resp:
            assert resp.status == 201
        throttled = await api.get("CustomersV3")
        after = await api.get("CustomersV3")
    assert throttled.status == 429
    assert throttled.headers["Retry-After"] == "7"
    assert after.status == 200
