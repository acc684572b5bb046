"""Control routes and seed sections of the identity emulator: clear 400s, settings that bite."""

from __future__ import annotations

from typing import Any

import pytest

from emulator import RunningEmulator
from emulator.directory import DEFAULT_TENANT
from emulator.identity import apply_seed
from emulator.identity.testing import add_app, add_user, set_token_settings
from emulator.seed import DEMO_SEED, SeedError, load_seed_file

PREFIX = "/_emulator/identity"


async def _post(emulator: RunningEmulator, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with emulator.client_session() as http, http.post(
        f"{emulator.base_url}{path}", **kwargs
    ) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/users", {"username": "a@b.test"}, "password: Field required"),
        ("/users", {"username": "no-at-sign", "password": "x"}, "username: String should match"),
        ("/apps", {"client_id": "c", "secret": "x"}, "secret: Extra inputs are not permitted"),
        ("/token-settings", {"access_token_lifetime_s": -1}, "access_token_lifetime_s"),
        ("/auto-sign-in", {"username": "ghost@b.test"}, "no user 'ghost@b.test'"),
        ("/users/ghost@b.test/mfa", {"required": True}, "no user"),
        ("/users/ghost@b.test/revoke-refresh-tokens", {}, "no user"),
        ("/apps", [1, 2], "must be a JSON object"),
    ],
)
async def test_bad_control_input_is_400_with_a_clear_message(
    emulator: RunningEmulator, path: str, body: Any, message: str
) -> None:
    status, answer = await _post(emulator, PREFIX + path, json=body)
    assert status == 400
    assert message in answer["error"]


async def test_body_that_is_not_json_is_400(emulator: RunningEmulator) -> None:
    status, answer = await _post(emulator, f"{PREFIX}/users", data=b"{not json")
    assert status == 400 and "JSON" in answer["error"]


async def test_created_app_and_user_are_described_without_secrets(
    emulator: RunningEmulator,
) -> None:
    app = await add_app(emulator, client_id="c-1", client_secret="do-not-echo")
    user = await add_user(emulator, username="Mixed@Emulator.test", password="do-not-echo")
    assert app["confidential"] is True and "do-not-echo" not in str(app)
    assert user["tenant_id"] == DEFAULT_TENANT and "do-not-echo" not in str(user)


async def test_mfa_flag_can_be_set_and_cleared(emulator: RunningEmulator) -> None:
    await add_user(emulator, username="m@emulator.test", password="pw")
    _, on = await _post(emulator, f"{PREFIX}/users/m@emulator.test/mfa", json={"required": True})
    _, off = await _post(emulator, f"{PREFIX}/users/m@emulator.test/mfa",
                         json={"required": False})
    assert (on["mfa_required"], off["mfa_required"]) == (True, False)


async def test_access_token_lifetime_setting_applies_to_new_tokens(
    emulator: RunningEmulator,
) -> None:
    await add_app(emulator, client_id="c-2", client_secret="s")
    settings = await set_token_settings(emulator, access_token_lifetime_s=600)
    form = {"client_id": "c-2", "client_secret": "s", "grant_type": "client_credentials",
            "scope": f"{emulator.base_url}/.default"}
    status, body = await _post(emulator, f"/{DEFAULT_TENANT}/oauth2/v2.0/token", data=form)
    claims = emulator.state.signer.verify(body["access_token"], [emulator.base_url])
    assert settings["access_token_lifetime_s"] == 600
    assert (status, body["expires_in"], claims["exp"] - claims["iat"]) == (200, 600, 600)


async def test_demo_seed_gives_a_working_app_and_user(emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, load_seed_file(DEMO_SEED))
    form = {"client_id": "11111111-1111-4111-8111-111111111111",
            "client_secret": "demo-client-secret", "grant_type": "password",
            "username": "demo.user@emulator.test", "password": "demo-password",
            "scope": f"{emulator.base_url}/user_impersonation openid offline_access"}
    status, body = await _post(emulator, f"/{DEFAULT_TENANT}/oauth2/v2.0/token", data=form)
    assert status == 200
    assert {"access_token", "refresh_token", "id_token"} <= set(body)


def test_seed_problems_name_the_item_and_field() -> None:
    from emulator.config import EmulatorConfig
    from emulator.state import EmulatorState

    state = EmulatorState(EmulatorConfig())
    try:
        with pytest.raises(SeedError, match=r"users\[1\]: password: Field required"):
            apply_seed(state, {"users": [{"username": "a@b.test", "password": "x"},
                                         {"username": "c@b.test"}]})
        with pytest.raises(SeedError, match="token_settings: refresh_token_inactivity_s"):
            apply_seed(state, {"token_settings": {"refresh_token_inactivity_s": 0}})
    finally:
        state.store.close()
