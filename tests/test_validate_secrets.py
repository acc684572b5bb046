"""``recipe-runner validate`` in users' CI, where the connections' secrets are not set:
offline, a reference that does not resolve is a warning (file, line, column, variable)
and everything else is still checked; ``--online`` needs the secrets, so there it is an
error."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.cli import main

CONNECTIONS = """\
connections:
  crm:
    type: dynamics365
    auth: client_credentials
    environment: contoso.crm.dynamics.com
    tenant_id: 00000000-0000-4000-8000-000000000001
    client_id: 11111111-1111-4111-8111-111111111111
    client_secret: ${env:RR_TEST_SECRET_NOT_SET}
"""

RECIPE = """\
name: follow-up
trigger:
  type: dynamics365.new_record
  connection: {connection}
  table: contacts
actions:
  - type: log
    message: "new contact"
"""


def folder(tmp_path: Path, connection: str) -> list[str]:
    (tmp_path / "connections.yaml").write_text(CONNECTIONS)
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "follow-up.yaml").write_text(RECIPE.format(connection=connection))
    return [str(tmp_path / "recipes"), "--connections", str(tmp_path / "connections.yaml")]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(["validate", *argv])
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).splitlines()


@pytest.fixture(autouse=True)
def secret_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RR_TEST_SECRET_NOT_SET", raising=False)


def test_a_missing_secret_is_a_positioned_warning_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = run(capsys, *folder(tmp_path, "crm"))
    assert code == 0
    assert lines == [
        f"{tmp_path / 'connections.yaml'}:8:20: warning: connections.crm.client_secret: "
        "environment variable 'RR_TEST_SECRET_NOT_SET' is not set here; the daemon will "
        "need it (dynamics365)",
        "1 recipe(s) valid, 0 with problems",
    ]


def test_recipes_are_still_checked_against_the_connections_types(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = run(capsys, *folder(tmp_path, "crn"))
    assert code == 1
    assert f"{tmp_path / 'recipes' / 'follow-up.yaml'}:4:15: trigger.connection: unknown " \
        "connection 'crn' (did you mean 'crm'?) (dynamics365.new_record)" in lines


def test_online_validation_needs_the_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = folder(tmp_path, "crm")
    code, lines = run(capsys, *args, "--online", "--state", f"sqlite:///{tmp_path / 's.db'}")
    assert code == 1
    assert lines[0].endswith("connections.crm.client_secret: environment variable "
                             "'RR_TEST_SECRET_NOT_SET' is not set (dynamics365)")
