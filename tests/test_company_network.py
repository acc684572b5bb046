"""README's "Running in a company network", tried as written: every connections.yaml snippet
of the section loads (host paths mapped into a temp folder), and the emulated managed
identity snippet signs in for real against the emulator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from emulator import RunningEmulator
from emulator.identity.testing import control
from runner.connections import check_connections
from tests.credentials_support import make_certificate
from tests.tokens_support import run_cli

README = Path(__file__).resolve().parents[1] / "README.md"


def section() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("\n## Running in a company network\n", 1)[1].split("\n## ", 1)[0]


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", section(), re.S)


def test_every_snippet_of_the_section_loads(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cert = make_certificate()
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "app.pem").write_text(cert.combined)
    (etc / "proxy_password").write_text("proxy-secret\n")
    token = tmp_path / "azure-identity-token"
    token.write_text("eyJ.header.payload")
    monkeypatch.setenv("CRM_CLIENT_SECRET", "s3cret-value-123")
    blocks = [b for b in yaml_blocks() if "localhost:8443" not in b]
    assert len(blocks) == 4
    for index, block in enumerate(blocks):
        text = block.replace("/etc/recipe-runner/", f"{etc}/").replace(
            "/var/run/secrets/azure/tokens/azure-identity-token", str(token))
        path = tmp_path / f"connections-{index}.yaml"
        path.write_text(text)
        problems = [str(p) for p in check_connections(path).problems if p.is_error]
        assert not problems, (block, problems)
        assert yaml.safe_load(text)["connections"]


async def test_the_emulated_managed_identity_snippet_signs_in(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    identity = await control(emulator, "identity/managed-identities", {"system_assigned": True})
    (block,) = [b for b in yaml_blocks() if "localhost:8443" in b]
    text = block.replace("localhost:8443", f"localhost:{emulator.port}").replace(
        "~/.local/state/recipe-runner/emulator-tls/ca.pem", str(emulator.ca_file))
    (tmp_path / "connections.yaml").write_text(text)

    code, output = await run_cli(tmp_path, "test", "emulated-mi")

    assert code == 0, output
    assert f"UserId          {identity['object_id']}" in output
    assert "system_assigned" in section() and "identity_header" in section()
