"""https://h and https://h:443 are one origin: no ``:443`` in what the emulator hands out,
and a token for either form of the environment URL is accepted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from emulator import EmulatorConfig, RunningEmulator, running_emulator
from emulator.directory import DEFAULT_TENANT
from emulator.origins import origin, without_default_port

CLIENT_ID, SECRET = "44444444-4444-4444-8444-444444444444", "port-secret"


@pytest.fixture
async def on_443(tls_dir: Path) -> AsyncIterator[RunningEmulator]:
    """An emulator served as https://localhost (port 443 forwarded to its real port)."""
    config = EmulatorConfig(port=0, tls_dir=tls_dir, public_port=443)
    async with running_emulator(config) as emu:
        yield emu


async def _call(emu: RunningEmulator, method: str, path: str, **kwargs: Any) -> Any:
    """A request to the real port with ``Host: localhost``, as a port forward delivers it."""
    url = f"https://localhost:{emu.port}{path}"
    headers = {"Host": "localhost", **kwargs.pop("headers", {})}
    async with emu.client_session() as http, http.request(method, url, headers=headers,
                                                          **kwargs) as resp:
        return resp.status, await resp.json()


async def _token(emu: RunningEmulator, scope: str) -> str:
    status, body = await _call(emu, "POST", f"/{DEFAULT_TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET,
        "scope": scope})
    assert status == 200, body
    return str(body["access_token"])


async def test_urls_handed_out_on_443_carry_no_port(on_443: RunningEmulator) -> None:
    _, discovery = await _call(on_443, "GET",
                               f"/{DEFAULT_TENANT}/v2.0/.well-known/openid-configuration")
    _, adfs = await _call(on_443, "GET", "/adfs/.well-known/openid-configuration")
    assert on_443.base_url == "https://localhost"
    assert discovery["issuer"] == f"https://localhost/{DEFAULT_TENANT}/v2.0"
    assert discovery["token_endpoint"] == f"https://localhost/{DEFAULT_TENANT}/oauth2/v2.0/token"
    assert adfs["issuer"] == "https://localhost/adfs"
    assert ":443" not in str(discovery) + str(adfs)


@pytest.mark.parametrize("scope", ["https://localhost/.default", "https://localhost:443/.default"])
async def test_a_token_for_either_form_is_for_the_environment_and_accepted(
        on_443: RunningEmulator, scope: str) -> None:
    await _call(on_443, "POST", "/_emulator/identity/apps",
                json={"client_id": CLIENT_ID, "client_secret": SECRET})
    token = await _token(on_443, scope)

    status, who = await _call(on_443, "GET", "/api/data/v9.2/WhoAmI",
                              headers={"Authorization": f"Bearer {token}"})

    assert status == 200, who
    assert who["@odata.context"].startswith("https://localhost/api/data/v9.2/$metadata")
    claims = on_443.state.signer.verify(token, ["https://localhost"])
    assert claims["aud"] == "https://localhost"
    assert claims["iss"] == f"https://localhost/{DEFAULT_TENANT}/v2.0"


async def test_on_another_port_a_token_naming_443_is_still_refused(
        emulator: RunningEmulator) -> None:
    token = emulator.state.signer.sign({"aud": "https://localhost:443", "exp": 2**40})
    async with emulator.client_session() as http, http.get(
            f"{emulator.base_url}/api/data/v9.2/WhoAmI",
            headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 401


def test_origin_leaves_out_only_the_scheme_default_port() -> None:
    assert origin("https", "h", 443) == "https://h"
    assert origin("http", "h", 80) == "http://h"
    assert origin("https", "h", 80) == "https://h:80"
    assert without_default_port("https://h:443/x/.default") == "https://h/x/.default"
    assert without_default_port("https://h:8443/x") == "https://h:8443/x"
    assert without_default_port("http://h:443") == "http://h:443"
