"""Bearer tokens on the Web API: who gets in, and what a refused client sees."""

from __future__ import annotations

import pytest

from emulator import RunningEmulator
from tests.dataverse_client import Api, Reply, mint_token

TENANT = "00000000-0000-4000-8000-000000000001"


async def _who_am_i(emulator: RunningEmulator, token: str | None) -> Reply:
    async with emulator.client_session() as http:
        api = Api(http, f"{emulator.base_url}/api/data/v9.2", token or "")
        if token is None:
            async with http.get(f"{api.root}/WhoAmI") as resp:
                return Reply(resp.status, resp.headers.copy(), await resp.text())
        return await api.get("WhoAmI")


def _assert_challenge(emulator: RunningEmulator, reply: Reply) -> None:
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == (
        f"Bearer authorization_uri={emulator.base_url}/{TENANT}/oauth2/authorize, "
        f"resource_id={emulator.base_url}/")
    assert set(reply.json["error"]) == {"code", "message"}


async def test_missing_token_is_401_with_the_tenant_challenge(emulator: RunningEmulator) -> None:
    _assert_challenge(emulator, await _who_am_i(emulator, None))


async def test_expired_token_is_401(emulator: RunningEmulator) -> None:
    token = mint_token(emulator, lifetime_s=60)
    emulator.state.clock.advance(61)
    _assert_challenge(emulator, await _who_am_i(emulator, token))


async def test_token_for_another_audience_is_401(emulator: RunningEmulator) -> None:
    token = mint_token(emulator, audience="https://contoso.crm.dynamics.com")
    _assert_challenge(emulator, await _who_am_i(emulator, token))


async def test_token_not_signed_by_the_emulator_is_401(emulator: RunningEmulator) -> None:
    token = mint_token(emulator)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    _assert_challenge(emulator, await _who_am_i(emulator, tampered))


@pytest.mark.parametrize("suffix", ["/", "/user_impersonation", "/.default"])
async def test_audience_forms_of_the_environment_url_are_accepted(
        emulator: RunningEmulator, suffix: str) -> None:
    token = mint_token(emulator, audience=emulator.base_url + suffix)
    assert (await _who_am_i(emulator, token)).status == 200


async def test_audience_with_loopback_ip_is_accepted(emulator: RunningEmulator) -> None:
    audience = emulator.base_url.replace("localhost", "127.0.0.1")
    assert (await _who_am_i(emulator, mint_token(emulator, audience=audience))).status == 200


async def test_audience_that_only_shares_a_prefix_is_refused(emulator: RunningEmulator) -> None:
    token = mint_token(emulator, audience=emulator.base_url + "0")
    assert (await _who_am_i(emulator, token)).status == 401
