"""Loading connections.yaml: typed connections, derived URLs and scopes, secrets kept secret."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from connectors.auth.msal_http import msal_app
from emulator import RunningEmulator
from emulator.directory import DEFAULT_TENANT
from emulator.identity.testing import add_app
from runner.config import ConfigError
from runner.connections import (
    ConnectionsFile,
    Dynamics365Connection,
    DynamicsFoConnection,
    HttpConnection,
    check_connections,
    connections_json_schema,
    load_connections,
)

CLIENT_SECRET = "cs-7c1e5a0d-never-shown"
PASSWORD = "pw-9f2b-never-shown"
PROFILE_SECRET = "profile-secret-never-shown"
HOOK_TOKEN = "hook-token-never-shown"
ENVIRON = {
    "D365_TENANT_ID": "contoso.onmicrosoft.com",
    "D365_CLIENT_ID": "11111111-1111-4111-8111-111111111111",
    "D365_PASSWORD": PASSWORD,
    "CORP_SECRET": PROFILE_SECRET,
}
SECRETS = (CLIENT_SECRET, PASSWORD, PROFILE_SECRET, HOOK_TOKEN)

FULL_FILE = """\
connections:
  crm:
    type: dynamics365
    environment: abc.crm.dynamics.com
    tenant_id: ${env:D365_TENANT_ID}
    client_id: ${env:D365_CLIENT_ID}
    client_secret: ${file:client_secret.txt}
  legacy:
    type: dynamics365
    auth: password
    environment: old.crm4.dynamics.com
    api_version: 8
    tenant_id: ${env:D365_TENANT_ID}
    client_id: ${env:D365_CLIENT_ID}
    username: someone@contoso.com
    password: ${env:D365_PASSWORD}
    resource_uri: https://old.api.crm4.dynamics.com/api/data/v8.2/
  onprem:
    type: dynamics365
    auth: authorization_code
    account_type: on_premise
    environment: crm.contoso.local:444
    ad_domain: adfs.contoso.local
    client_id: ${env:D365_CLIENT_ID}
    redirect_uri: http://127.0.0.1:8765/callback
  fo:
    type: dynamics_fo
    environment: usmf.operations.dynamics.com
    tenant_id: ${env:D365_TENANT_ID}
    oauth_profile: corp
    data_area: USMF
    cross_company: true
  hooks:
    type: http
    base_url: https://hooks.example.com
    auth: bearer
    token: ${file:hook_token.txt}
oauth_profiles:
  corp:
    client_id: 22222222-2222-4222-8222-222222222222
    client_secret: "${env:CORP_SECRET}"
    authority_host: login.microsoftonline.us
    scopes: [https://usmf.operations.dynamics.com/.default]
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "client_secret.txt").write_text(CLIENT_SECRET + "\n")
    (tmp_path / "hook_token.txt").write_text(HOOK_TOKEN)
    path = tmp_path / "connections.yaml"
    path.write_text(text)
    return path


def _load(tmp_path: Path, text: str = FULL_FILE) -> ConnectionsFile:
    return load_connections(_write(tmp_path, text), display_name="connections.yaml",
                            environ=ENVIRON, today=date(2026, 1, 1))


def test_full_file_loads_typed_connections_with_secrets_resolved(tmp_path: Path) -> None:
    loaded = _load(tmp_path)
    crm, hooks = loaded.connections["crm"], loaded.connections["hooks"]

    assert isinstance(crm, Dynamics365Connection) and isinstance(hooks, HttpConnection)
    assert isinstance(loaded.connections["fo"], DynamicsFoConnection)
    assert crm.tenant_id == "contoso.onmicrosoft.com"
    assert crm.client_secret is not None
    assert crm.client_secret.get_secret_value() == CLIENT_SECRET
    assert hooks.token is not None and hooks.token.get_secret_value() == HOOK_TOKEN


def test_dataverse_urls_authority_and_app_scope_are_derived(tmp_path: Path) -> None:
    crm = _load(tmp_path).connections["crm"]

    assert isinstance(crm, Dynamics365Connection)
    assert crm.environment_url == "https://abc.crm.dynamics.com"
    assert crm.api_base_url == "https://abc.crm.dynamics.com/api/data/v9.2/"
    assert crm.resource == "https://abc.crm.dynamics.com"
    assert crm.authority_url == "https://login.microsoftonline.com/contoso.onmicrosoft.com"
    assert crm.scopes == ["https://abc.crm.dynamics.com/.default"]


def test_user_flow_uses_user_impersonation_on_the_narrower_resource(tmp_path: Path) -> None:
    legacy = _load(tmp_path).connections["legacy"]

    assert isinstance(legacy, Dynamics365Connection)
    assert legacy.api_base_url == "https://old.crm4.dynamics.com/api/data/v8.2/"
    assert legacy.resource == "https://old.api.crm4.dynamics.com"
    assert legacy.scopes == ["https://old.api.crm4.dynamics.com/user_impersonation"]


def test_on_premise_authority_is_the_adfs_endpoint(tmp_path: Path) -> None:
    onprem = _load(tmp_path).connections["onprem"]

    assert isinstance(onprem, Dynamics365Connection)
    assert onprem.authority_url == "https://adfs.contoso.local/adfs"
    assert onprem.environment_url == "https://crm.contoso.local:444"
    assert onprem.scopes == ["https://crm.contoso.local:444/user_impersonation"]


def test_oauth_profile_supplies_credentials_authority_host_and_scopes(tmp_path: Path) -> None:
    fo = _load(tmp_path).connections["fo"]

    assert isinstance(fo, DynamicsFoConnection)
    assert fo.client_id == "22222222-2222-4222-8222-222222222222"
    assert fo.client_secret is not None
    assert fo.client_secret.get_secret_value() == PROFILE_SECRET
    assert fo.authority_url == "https://login.microsoftonline.us/contoso.onmicrosoft.com"
    assert fo.scopes == ["https://usmf.operations.dynamics.com/.default"]
    assert fo.api_base_url == "https://usmf.operations.dynamics.com/data/"
    assert (fo.data_area, fo.cross_company) == ("usmf", True)


def test_secrets_never_appear_in_repr_str_or_dumps(tmp_path: Path) -> None:
    loaded = _load(tmp_path)
    shown = "\n".join([repr(loaded), str(loaded), loaded.model_dump_json()])
    shown += "\n".join(repr(c) + str(c) for c in loaded.connections.values())

    assert not [s for s in SECRETS if s in shown]


def test_secrets_never_appear_in_problems_or_the_exception(tmp_path: Path) -> None:
    broken = FULL_FILE.replace("api_version: 8", f"api_version: 8\n    client_secret: {PASSWORD}")
    broken = broken.replace("token: ${file:hook_token.txt}", "token: [" + HOOK_TOKEN + "]")
    broken = broken.replace("username: someone@contoso.com", f"username: [{CLIENT_SECRET}]")

    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, broken)
    text = "\n".join([str(caught.value), repr(caught.value), *map(repr, caught.value.problems)])

    assert caught.value.errors and caught.value.warnings
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert not [s for s in SECRETS if s in text]


def test_every_problem_of_every_connection_is_reported_at_once(tmp_path: Path) -> None:
    broken = (FULL_FILE.replace("tenant_id: ${env:D365_TENANT_ID}\n    client_id", "client_id", 1)
              .replace("api_version: 8", "api_version: 10")
              .replace("oauth_profile: corp", "oauth_profile: crop"))

    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, broken)

    assert [str(p) for p in caught.value.errors] == [
        "connections.yaml:2:3: connections.crm.tenant_id: field required when account_type is "
        "cloud (dynamics365)",
        "connections.yaml:11:18: connections.legacy.api_version: must be 8 or 9 (dynamics365)",
        "connections.yaml:29:20: connections.fo.oauth_profile: unknown oauth_profile 'crop' "
        "(did you mean 'corp'?) (dynamics_fo)",
    ]


def test_problems_use_the_path_as_given_unless_a_display_name_is_set(tmp_path: Path) -> None:
    path = _write(tmp_path, "connections:\n  x:\n    type: http\n")

    default = check_connections(path)
    named = check_connections(path, display_name="connections.yaml")

    assert str(default.problems[0]).startswith(f"{path}:2:3: connections.x.base_url")
    assert str(named.problems[0]) == (
        "connections.yaml:2:3: connections.x.base_url: field required (http)"
    )


def test_model_built_directly_still_enforces_the_auth_rules() -> None:
    with pytest.raises(ValidationError, match="tenant_id: field required when account_type"):
        Dynamics365Connection.model_validate(
            {"type": "dynamics365", "environment": "abc.crm.dynamics.com", "client_id": "c",
             "client_secret": CLIENT_SECRET}
        )


def test_json_schema_describes_every_connection_type_for_editors() -> None:
    schema = connections_json_schema()
    defs = schema["$defs"]

    assert schema["required"] == ["connections"]
    assert set(defs) >= {"Dynamics365Connection", "DynamicsFoConnection", "HttpConnection",
                         "OAuthProfile"}
    crm = defs["Dynamics365Connection"]
    assert crm["additionalProperties"] is False
    assert crm["properties"]["api_version"]["enum"] == [8, 9]
    assert "examples" in crm["properties"]["environment"]
    assert crm["properties"]["client_secret"]["anyOf"][0]["writeOnly"] is True
    assert list(schema["properties"]["connections"]["patternProperties"]) == ["^[a-z0-9_-]+$"]


async def test_loaded_connection_gets_a_token_from_the_emulator_with_real_msal(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    client_id = ENVIRON["D365_CLIENT_ID"]
    await add_app(emulator, client_id=client_id, client_secret=CLIENT_SECRET,
                  roles=["Dataverse.ReadWrite"])
    host = emulator.base_url.removeprefix("https://")
    text = f"""\
connections:
  local:
    type: dynamics365
    environment: {host}
    authority_host: {host}
    tenant_id: {DEFAULT_TENANT}
    client_id: ${{env:D365_CLIENT_ID}}
    client_secret: ${{file:client_secret.txt}}
    ca_bundle: {emulator.ca_file}
"""
    conn = _load(tmp_path, text).connections["local"]
    assert isinstance(conn, Dynamics365Connection)
    assert conn.client_id is not None and conn.client_secret is not None

    def acquire() -> dict:
        secret = conn.client_secret.get_secret_value()
        with msal_app(conn.authority_url, client_id, client_secret=secret,
                      ca_bundle=str(conn.ca_bundle)) as app:
            return app.acquire_token_for_client(conn.scopes)

    result = await asyncio.to_thread(acquire)

    claims = emulator.state.signer.verify(result["access_token"], [conn.resource])
    assert claims["aud"] == conn.resource == emulator.base_url
    assert claims["appid"] == client_id


def test_warnings_are_logged_as_config_warning_without_secret_values(tmp_path: Path) -> None:
    text = FULL_FILE.replace("${file:hook_token.txt}", HOOK_TOKEN)

    with capture_logs() as logs:
        _load(tmp_path, text)

    assert [entry["event"] for entry in logs] == ["config.warning"]
    assert logs[0]["problem"] == (
        "connections.yaml:37:12: warning: connections.hooks.token: secret written in the file; "
        "prefer ${env:NAME} or ${file:/path} (http)"
    )
