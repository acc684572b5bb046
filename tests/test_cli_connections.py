"""``recipe-runner connections list|test|login`` against the emulator, and a scan of every
line of output for secrets and tokens."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import msal
import pytest
from structlog.testing import capture_logs

from connectors.errors import AuthError
from emulator import RunningEmulator
from emulator.identity.testing import advance_clock, auto_sign_in, revoke_refresh_tokens
from runner.store import Store
from runner.tokens import CacheStore, key_file_for, load_fernet
from tests.tokens_support import (
    CLIENT_SECRET,
    PASSWORD,
    USERNAME,
    connection,
    free_port,
    login_with_browser,
    run_cli,
    seed_tenant,
    state_url,
    token_manager,
    write_connections,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


async def _three_connections(emulator: RunningEmulator, folder: Path) -> dict[str, object]:
    redirect = f"http://localhost:{free_port()}/callback"
    user = await seed_tenant(emulator, redirect)
    await auto_sign_in(emulator, USERNAME)
    write_connections(folder, {
        "crm": connection(emulator),
        "legacy": connection(emulator, "password", api_version=8, on_premise=True),
        "sales": connection(emulator, "authorization_code", redirect_uri=redirect),
    })
    return user


async def test_test_prints_who_am_i_and_latency(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    user = await _three_connections(emulator, tmp_path)
    code, text = await run_cli(tmp_path, "test", "legacy")
    json_code, document = await run_cli(tmp_path, "test", "crm", "--json")

    assert code == 0, text
    assert text.startswith("legacy: ok")
    assert f"UserId          {user['object_id']}" in text
    assert "OrganizationId" in text and " ms (token " in text
    result = json.loads(document)
    assert json_code == 0 and result["ok"] is True
    assert result["organization_id"] and result["latency_ms"] >= 0


async def test_list_shows_state_expiry_and_last_refresh(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await _three_connections(emulator, tmp_path)
    assert (await run_cli(tmp_path, "test", "crm"))[0] == 0
    code, text = await run_cli(tmp_path, "list")
    json_code, document = await run_cli(tmp_path, "list", "--json")

    assert code == json_code == 0
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "AUTH", "ENVIRONMENT", "STATE", "TOKEN",
                                "EXPIRES", "LAST", "REFRESH"]
    rows = {row["name"]: row for row in json.loads(document)["connections"]}
    assert rows["crm"]["state"] == "ok" and rows["crm"]["token_expires_at"]
    assert rows["crm"]["last_refresh_at"]
    assert rows["sales"]["state"] == "never_signed_in"
    assert (rows["legacy"]["state"], rows["legacy"]["token_expires_at"]) == ("-", None)
    assert any(line.startswith("sales") and "never_signed_in" in line for line in lines)


async def test_test_of_a_wrong_secret_exits_1_with_code_and_fix(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    write_connections(tmp_path, {"crm": connection(emulator)}, client_secret="wrong-one")
    code, text = await run_cli(tmp_path, "test", "crm")
    _, listing = await run_cli(tmp_path, "list", "--json")

    assert code == 1
    assert "AADSTS7000215" in text and "recipe-runner connections test crm" in text
    row = json.loads(listing)["connections"][0]
    assert row["state"] == "invalid" and row["reason"].startswith("AADSTS7000215")


async def test_login_restores_a_revoked_connection(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await _three_connections(emulator, tmp_path)
    assert await login_with_browser(emulator, tmp_path, "sales") == 0
    async with token_manager(emulator, tmp_path) as manager:
        await manager.tokens("sales").access_token()
        await revoke_refresh_tokens(emulator, USERNAME)
        await advance_clock(emulator, 3600)
        with pytest.raises(AuthError, match="AADSTS50173"):
            await manager.tokens("sales").access_token()
    assert "invalid: AADSTS50173" in (await run_cli(tmp_path, "list"))[1]

    printed: list[str] = []
    assert await login_with_browser(emulator, tmp_path, "sales", printed) == 0
    code, text = await run_cli(tmp_path, "test", "sales")
    assert printed[-1] == f"sales: signed in as {USERNAME}; state ok"
    assert code == 0, text


async def test_login_of_a_client_credentials_connection_is_refused(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await _three_connections(emulator, tmp_path)
    code, text = await run_cli(tmp_path, "login", "crm", "--no-browser")
    missing_code, missing = await run_cli(tmp_path, "test", "nope")
    assert code == 1 and "authorization_code" in text
    assert missing_code == 1 and "no connection named 'nope'" in missing


async def test_environment_variables_locate_files_for_a_separate_process(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await _three_connections(emulator, tmp_path)
    env = {**os.environ, "RECIPE_RUNNER_CONNECTIONS": str(tmp_path / "connections.yaml"),
           "RECIPE_RUNNER_STATE": state_url(tmp_path)}
    (tmp_path / "state").mkdir()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runner.cli_connections", "test", "crm", "--json",
        cwd=PROJECT_ROOT, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode == 0, stderr.decode()
    assert json.loads(stdout.decode().splitlines()[-1])["ok"] is True


async def _issued_secrets(folder: Path) -> set[str]:
    """Every access and refresh token the stored caches hold, and the Fernet key."""
    key_file = key_file_for(state_url(folder))
    fernet = load_fernet(key_file, create=False)
    assert fernet is not None
    found = {key_file.read_text().strip()}
    async with await Store.open(state_url(folder)) as store:
        for name in ("crm", "legacy", "sales"):
            stored = await CacheStore(store, fernet, name).load()
            if stored is None:
                continue
            cache = msal.SerializableTokenCache()
            cache.deserialize(stored.text)
            for kind in ("AccessToken", "RefreshToken", "IdToken"):
                found |= {entry["secret"] for entry in cache.search(kind)}
    return found


async def test_no_secret_or_token_appears_in_any_output(
    emulator: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _three_connections(emulator, tmp_path)
    printed: list[str] = []
    tokens: set[str] = set()
    with capture_logs() as logs:
        for argv in (("test", "crm"), ("test", "legacy", "--json"), ("list",),
                     ("list", "--json")):
            printed.append((await run_cli(tmp_path, *argv))[1])
        assert await login_with_browser(emulator, tmp_path, "sales", printed) == 0
        async with token_manager(emulator, tmp_path) as manager:
            for name in ("crm", "legacy", "sales"):
                tokens.add(await manager.tokens(name).access_token())
            await revoke_refresh_tokens(emulator, USERNAME)
            await advance_clock(emulator, 3600)
            try:
                await manager.tokens("sales").access_token()
            except AuthError as exc:
                printed.append(str(exc))
        write_connections(tmp_path, {"crm": connection(emulator)}, client_secret="x" + PASSWORD)
        printed.append((await run_cli(tmp_path, "test", "crm"))[1])
    captured = capsys.readouterr()
    everything = "\n".join([*printed, captured.out, captured.err, *map(repr, logs)])
    secrets = {CLIENT_SECRET, PASSWORD, "x" + PASSWORD, *tokens,
               *await _issued_secrets(tmp_path)}

    assert "AADSTS50173" in everything and "AADSTS7000215" in everything  # errors were shown
    assert len(tokens) == 3 and all(len(s) > 8 for s in secrets)
    leaked = [s[:6] + "…" for s in secrets if s in everything]
    assert leaked == []
