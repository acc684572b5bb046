"""Secrets as systemd credentials: ``${credential:NAME}`` reads ``$CREDENTIALS_DIRECTORY/NAME``,
which the shipped unit's ``LoadCredential=`` lines fill (systemd is not PID 1 here, so the
daemon is started with the directory systemd would give it)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from emulator import RunningEmulator
from runner.config.secrets import SecretReferenceError, resolve_reference
from tests.tokens_support import CLIENT_SECRET, connection, seed_tenant, write_connections

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "recipe-runner.service"
README = ROOT / "README.md"


def test_a_credential_reference_reads_the_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "d365_client_secret").write_text("from-systemd\n")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}

    assert resolve_reference("${credential:d365_client_secret}", base_dir=ROOT,
                             environ=env) == "from-systemd"
    with pytest.raises(SecretReferenceError, match="is not loaded: add LoadCredential=other:"):
        resolve_reference("${credential:other}", base_dir=ROOT, environ=env)
    with pytest.raises(SecretReferenceError, match=r"CREDENTIALS_DIRECTORY is not set .*"
                                                   r"LoadCredential=d365_client_secret:"):
        resolve_reference("${credential:d365_client_secret}", base_dir=ROOT, environ={})
    with pytest.raises(SecretReferenceError, match="has no '/'"):
        resolve_reference("${credential:../etc/shadow}", base_dir=ROOT, environ=env)


async def test_connections_test_uses_the_credential_the_unit_loads(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / "d365_client_secret").write_text(CLIENT_SECRET + "\n")
    write_connections(tmp_path, {"crm": connection(
        emulator, client_secret="${credential:d365_client_secret}")})
    env = {k: v for k, v in os.environ.items() if "SECRET" not in k}
    argv = [sys.executable, "-m", "runner.cli", "connections", "test", "crm", "--connections",
            str(tmp_path / "connections.yaml"), "--state", f"sqlite:///{tmp_path / 's.db'}"]

    async def run(**extra: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            *argv, env={**env, **extra}, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(process.communicate(), 60)
        return int(process.returncode or 0), out.decode()

    code, text = await run(CREDENTIALS_DIRECTORY=str(credentials))
    outside_code, outside_text = await run()

    assert code == 0, text
    assert "crm: ok" in text
    assert outside_code != 0
    assert "$CREDENTIALS_DIRECTORY is not set" in outside_text
    assert CLIENT_SECRET not in text + outside_text


def test_the_unit_loads_secrets_as_credentials_and_the_readme_names_them() -> None:
    unit = UNIT.read_text()
    loaded = re.findall(r"^LoadCredential=([\w.@-]+):%E/recipe-runner/credentials/\1$", unit,
                        re.M)
    readme = README.read_text()

    assert loaded == ["d365_client_secret"]
    assert "EnvironmentFile=-%E/recipe-runner/recipe-runner.env" in unit  # optional
    for name in loaded:
        assert f"${{credential:{name}}}" in readme
        assert f"/etc/recipe-runner/credentials/{name}" in readme
    example = (ROOT / "deploy" / "recipe-runner.env.example").read_text()
    # no connection secret; RECIPE_RUNNER_SECRET_KEY is optional (default: a key file)
    assert not re.search(r"^#?(?!RECIPE_RUNNER_SECRET_KEY)\w*(SECRET|PASSWORD)\w*=", example,
                         re.M)
