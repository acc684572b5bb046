"""Certificate credentials, workload identity federation and managed identities, against the
emulator's identity provider: what ``connections test`` shows, what the token manager does on
renewal, and how refusals are classified."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml

from connectors.errors import AuthError
from emulator import EmulatorConfig, RunningEmulator, running_emulator
from emulator.directory import DEFAULT_TENANT
from emulator.identity.testing import add_app, advance_clock, auto_sign_in, control
from runner.connections import check_connections
from runner.ops.metrics import METRICS
from runner.store import ConnectionStatus
from tests.credentials_support import AppCertificate, make_certificate
from tests.tokens_support import (
    CLIENT_ID,
    USERNAME,
    connection,
    free_port,
    login_with_browser,
    run_cli,
    token_manager,
    write_connections,
)

SUBJECT = "system:serviceaccount:ops:recipe-runner"


async def _certificate_app(emulator: RunningEmulator, cert: AppCertificate,
                           redirect_uri: str | None = None) -> dict[str, Any]:
    """An app with no secret, only ``cert`` registered (and one user)."""
    await add_app(emulator, client_id=CLIENT_ID, redirect_uris=[redirect_uri] if redirect_uri
                  else [])
    registered = await control(emulator, f"identity/apps/{CLIENT_ID}/certificates",
                               {"certificate": cert.cert_pem})
    assert registered["thumbprint_sha1"] == cert.thumbprint_sha1
    return registered


def _cert_connection(emulator: RunningEmulator, folder: Path, pem: str,
                     **extra: Any) -> dict[str, Any]:
    (folder / "app.pem").write_text(pem)
    conn = connection(emulator, client_certificate="${file:app.pem}", **extra)
    del conn["client_secret"]
    return conn


async def test_a_certificate_signs_client_credentials_and_dataverse_answers(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    cert = make_certificate()
    await _certificate_app(emulator, cert)
    write_connections(tmp_path, {"crm": _cert_connection(emulator, tmp_path, cert.combined)})

    code, text = await run_cli(tmp_path, "test", "crm")

    assert code == 0, text
    assert text.startswith("crm: ok") and "UserId" in text
    assert "PRIVATE KEY" not in text


async def test_key_in_its_own_file_with_the_portal_thumbprint(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    cert = make_certificate()
    await _certificate_app(emulator, cert)
    (tmp_path / "app-key.pem").write_text(cert.key_pem)
    thumbprint = ":".join(cert.thumbprint_sha1[i:i + 2] for i in range(0, 40, 2))
    write_connections(tmp_path, {"crm": _cert_connection(
        emulator, tmp_path, cert.cert_pem, client_certificate_key="${file:app-key.pem}",
        client_certificate_thumbprint=thumbprint.lower())})

    code, text = await run_cli(tmp_path, "test", "crm")

    assert code == 0, text


async def test_a_thumbprint_that_does_not_match_is_a_load_error_without_key_material(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    cert, other = make_certificate(), make_certificate("other")
    write_connections(tmp_path, {"crm": _cert_connection(
        emulator, tmp_path, cert.combined,
        client_certificate_thumbprint=other.thumbprint_sha1)})

    code, text = await run_cli(tmp_path, "test", "crm")

    assert code != 0
    assert f"client_certificate_thumbprint {other.thumbprint_sha1} does not match" in text
    assert cert.thumbprint_sha1 in text and "connections.yaml" in text
    assert "BEGIN" not in text and cert.key_pem.splitlines()[1] not in text


async def test_an_unregistered_certificate_is_aadsts700027_and_marks_the_connection_invalid(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    registered, stranger = make_certificate(), make_certificate("stranger")
    await _certificate_app(emulator, registered)
    write_connections(tmp_path, {"crm": _cert_connection(emulator, tmp_path,
                                                         stranger.combined)})

    code, text = await run_cli(tmp_path, "test", "crm")
    async with token_manager(emulator, tmp_path) as manager:
        with pytest.raises(AuthError) as caught:
            await manager.tokens("crm").access_token()
        status = manager.tokens("crm").status

    assert code != 0
    assert "invalid_client AADSTS700027: the certificate is not registered on the app" in text
    assert "Certificates & secrets" in text
    assert caught.value.code == "AADSTS700027" and status is ConnectionStatus.INVALID
    assert METRICS.registry.get_sample_value("recipe_runner_connection_ok",
                                             {"connection": "crm"}) == 0  # the alert's input


async def test_an_expired_assertion_is_aadsts700024(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    cert = make_certificate()
    await _certificate_app(emulator, cert)
    write_connections(tmp_path, {"crm": _cert_connection(emulator, tmp_path, cert.combined)})
    await advance_clock(emulator, 2 * 3600)  # the identity provider's clock runs ahead

    code, text = await run_cli(tmp_path, "test", "crm")

    assert code != 0
    assert "AADSTS700024: the client assertion is expired or not yet valid" in text
    assert "check this machine's clock" in text


async def test_authorization_code_with_a_certificate_signs_in(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    cert = make_certificate()
    redirect = f"http://localhost:{free_port()}/callback"
    await _certificate_app(emulator, cert, redirect)
    await control(emulator, "identity/users", {"username": USERNAME, "password": "pw-12345678"})
    await auto_sign_in(emulator, USERNAME)
    write_connections(tmp_path, {"sales": _cert_connection(
        emulator, tmp_path, cert.combined, auth="authorization_code", redirect_uri=redirect)})

    assert await login_with_browser(emulator, tmp_path, "sales") == 0
    code, text = await run_cli(tmp_path, "test", "sales")

    assert code == 0, text


# -- workload identity federation -------------------------------------------------------

async def _federated_token(emulator: RunningEmulator, subject: str = SUBJECT) -> str:
    issued = await control(emulator, "identity/federated-tokens",
                           {"subject": subject, "lifetime_s": 3600})
    return str(issued["token"])


async def test_a_federated_token_file_is_read_again_on_every_renewal(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await add_app(emulator, client_id=CLIENT_ID)
    await control(emulator, f"identity/apps/{CLIENT_ID}/federated-credentials",
                  {"subject": SUBJECT})
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(await _federated_token(emulator))
    conn = connection(emulator, federated_token_file=str(token_file))
    del conn["client_secret"]
    write_connections(tmp_path, {"crm": conn})

    code, text = await run_cli(tmp_path, "test", "crm")
    assert code == 0, text
    async with token_manager(emulator, tmp_path) as manager:
        tokens = manager.tokens("crm")
        first = await tokens.access_token()
        token_file.write_text(await _federated_token(emulator, "system:serviceaccount:x:y"))
        with pytest.raises(AuthError) as caught:
            await tokens.access_token(force_refresh=True)
        status = tokens.status
        token_file.write_text(await _federated_token(emulator))  # the platform rotated it
        again = await tokens.access_token()  # a changed file is worth another try

    assert caught.value.code == "AADSTS70021" and status is ConnectionStatus.INVALID
    assert "no federated credential on the app matches" in caught.value.message
    assert again != first and tokens.status is ConnectionStatus.OK


# -- managed identity -------------------------------------------------------------------

def _mi_connection(emulator: RunningEmulator, path: str, **extra: Any) -> dict[str, Any]:
    host = emulator.base_url.removeprefix("https://")
    return {"type": "dynamics365", "auth": "managed_identity", "environment": host,
            "ca_bundle": str(emulator.ca_file),
            "managed_identity_endpoint": f"{emulator.base_url}{path}", **extra}


async def test_managed_identity_through_imds(emulator: RunningEmulator, tmp_path: Path) -> None:
    system = await control(emulator, "identity/managed-identities", {"system_assigned": True})
    user = await control(emulator, "identity/managed-identities", {})
    imds = "/metadata/identity/oauth2/token"
    write_connections(tmp_path, {
        "system": _mi_connection(emulator, imds),
        "assigned": _mi_connection(emulator, imds, client_id=user["client_id"]),
        "unknown": _mi_connection(emulator, imds,
                                  client_id="99999999-9999-4999-8999-999999999999"),
    })

    system_code, system_text = await run_cli(tmp_path, "test", "system")
    user_code, user_text = await run_cli(tmp_path, "test", "assigned")
    bad_code, bad_text = await run_cli(tmp_path, "test", "unknown")

    assert system_code == 0, system_text
    assert f"UserId          {system['object_id']}" in system_text
    assert user_code == 0 and f"UserId          {user['object_id']}" in user_text
    assert bad_code != 0
    assert "the managed identity endpoint has no such identity" in bad_text


async def test_managed_identity_through_app_service(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = await control(emulator, "identity/managed-identities", {"system_assigned": True})
    monkeypatch.setenv("IDENTITY_HEADER", identity["identity_header"])
    write_connections(tmp_path, {
        "app": _mi_connection(emulator, "/msi/token",
                              managed_identity_header="${env:IDENTITY_HEADER}"),
        "wrong": _mi_connection(emulator, "/msi/token", managed_identity_header="not-it"),
    })

    code, text = await run_cli(tmp_path, "test", "app")
    wrong_code, wrong_text = await run_cli(tmp_path, "test", "wrong")

    assert code == 0, text
    assert f"UserId          {identity['object_id']}" in text
    assert wrong_code != 0 and "the managed identity endpoint refused the request" in wrong_text
    assert identity["identity_header"] not in text + wrong_text


def test_connection_rules_for_the_new_credentials(tmp_path: Path) -> None:
    (tmp_path / "s.txt").write_text("secret-value-123\n")
    (tmp_path / "token").write_text("x")
    base = {"type": "dynamics365", "environment": "abc.crm.dynamics.com",
            "tenant_id": "contoso.onmicrosoft.com", "client_id": CLIENT_ID}
    (tmp_path / "connections.yaml").write_text(yaml.safe_dump({"connections": {
        "none": base,
        "both": {**base, "client_secret": "${file:s.txt}", "federated_token_file": "token"},
        "mi": {"type": "dynamics365", "environment": "abc.crm.dynamics.com",
               "auth": "managed_identity"},
    }}))
    problems = [str(p) for p in check_connections(tmp_path / "connections.yaml").problems]

    assert any("connections.none" in p and "client_certificate, or federated_token_file" in p
               for p in problems), problems
    assert any("connections.both.federated_token_file: use one client credential" in p
               for p in problems), problems
    assert not any("connections.mi" in p for p in problems), problems


# -- the emulator's side: seeds and the assertion checks --------------------------------

async def _post_assertion(emulator: RunningEmulator, assertion: str,
                          client_id: str = CLIENT_ID) -> dict[str, Any]:
    url = f"{emulator.base_url}/{DEFAULT_TENANT}/oauth2/v2.0/token"
    form = {"grant_type": "client_credentials", "client_id": client_id,
            "scope": f"{emulator.base_url}/.default", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    async with emulator.client_session() as http, http.post(url, data=form) as resp:
        return {"status": resp.status, **(await resp.json())}


def _assertion(cert: AppCertificate, emulator: RunningEmulator, **claims: Any) -> str:
    now = int(emulator.state.clock.time())
    body = {"iss": CLIENT_ID, "sub": CLIENT_ID, "jti": "j1", "nbf": now, "exp": now + 600,
            "aud": f"{emulator.base_url}/{DEFAULT_TENANT}/oauth2/v2.0/token", **claims}
    thumbprint = base64.urlsafe_b64encode(bytes.fromhex(cert.thumbprint_sha1)).decode()
    return jwt.encode(body, cert.key_pem, algorithm="RS256", headers={"x5t": thumbprint})


async def test_the_emulator_checks_audience_issuer_and_signature(
    emulator: RunningEmulator
) -> None:
    cert, forger = make_certificate(), make_certificate("forger")
    await _certificate_app(emulator, cert)

    good = await _post_assertion(emulator, _assertion(cert, emulator))
    wrong_aud = await _post_assertion(emulator, _assertion(cert, emulator, aud="https://x/"))
    wrong_iss = await _post_assertion(emulator, _assertion(cert, emulator, iss="someone"))
    forged = await _post_assertion(emulator, _assertion(
        AppCertificate(cert.cert_pem, forger.key_pem, cert.thumbprint_sha1), emulator))

    assert good["status"] == 200 and good["access_token"]
    assert wrong_aud["error_codes"] == [50027]
    assert wrong_iss["error_codes"] == [700021]
    assert forged["error_codes"] == [700027] and forged["status"] == 401


async def test_seeded_certificates_and_managed_identities(tmp_path: Path, tls_dir: Path) -> None:
    cert = make_certificate()
    seed = {"apps": [{"client_id": CLIENT_ID}],
            "app_certificates": [{"client_id": CLIENT_ID, "certificate": cert.cert_pem}],
            "managed_identities": [{"client_id": "mi-1", "system_assigned": True,
                                    "identity_header": "hdr"}]}
    (tmp_path / "seed.yaml").write_text(yaml.safe_dump(seed))
    config = EmulatorConfig(port=0, tls_dir=tls_dir, seed_path=tmp_path / "seed.yaml")
    async with running_emulator(config) as emu:
        granted = await _post_assertion(emu, _assertion(cert, emu))
        async with emu.client_session() as http, http.get(
                f"{emu.base_url}/msi/token", headers={"X-IDENTITY-HEADER": "hdr"},
                params={"api-version": "2019-08-01", "resource": emu.base_url}) as resp:
            msi = await resp.json()

    assert granted["status"] == 200
    assert msi["client_id"] == "mi-1" and msi["access_token"]
