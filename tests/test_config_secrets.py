"""Secret references resolve from the environment or a file; failures name the source only."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from runner.config import (
    SecretReferenceError,
    literal_secret_problems,
    parse_yaml,
    resolve_reference,
    resolve_references,
    secret_fields,
)

SECRET = "pa55-w0rd-value"


class _Creds(BaseModel):
    user: str
    password: SecretStr
    token: SecretStr | None = None


def test_env_reference_resolves_from_the_given_environment(tmp_path: Path) -> None:
    value = resolve_reference("${env:MY_SECRET}", base_dir=tmp_path, environ={"MY_SECRET": SECRET})

    assert value == SECRET


def test_file_reference_reads_the_file_without_its_trailing_newline(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text(SECRET + "\n")

    assert resolve_reference(f"${{file:{tmp_path}/secret.txt}}", base_dir=Path("/")) == SECRET
    assert resolve_reference("${file:secret.txt}", base_dir=tmp_path) == SECRET


def test_plain_text_is_returned_unchanged(tmp_path: Path) -> None:
    assert resolve_reference("not ${env:X} a reference", base_dir=tmp_path) == (
        "not ${env:X} a reference"
    )


def test_missing_variable_error_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SecretReferenceError, match="environment variable 'NOPE' is not set"):
        resolve_reference("${env:NOPE}", base_dir=tmp_path, environ={})


def test_unreadable_file_error_names_the_path_as_written(tmp_path: Path) -> None:
    with pytest.raises(SecretReferenceError, match=r"cannot read secret file 'missing\.txt'"):
        resolve_reference("${file:missing.txt}", base_dir=tmp_path)


def test_references_resolve_anywhere_in_nested_data_and_failures_become_problems(
    tmp_path: Path,
) -> None:
    text = (
        "c:\n  user: ${env:USER_NAME}\n  password: ${env:MISSING}\n"
        "  list: ['${env:USER_NAME}']\n"
    )
    source = parse_yaml(text, "c.yaml")

    result = resolve_references(source.data["c"], source, ("c",), base_dir=tmp_path,
                                environ={"USER_NAME": "alice"}, context="http")

    assert result.data == {"user": "alice", "password": "${env:MISSING}", "list": ["alice"]}
    assert result.unresolved == {("c", "password")}
    assert [str(p) for p in result.problems] == [
        "c.yaml:3:13: c.password: environment variable 'MISSING' is not set (http)"
    ]


def test_secret_fields_are_found_from_the_model_annotations() -> None:
    assert secret_fields(_Creds) == {"password", "token"}


def test_literal_secret_is_a_warning_that_never_shows_the_value() -> None:
    text = f"c:\n  user: alice\n  password: {SECRET}\n  token: ${{env:T}}\n"
    source = parse_yaml(text, "c.yaml")

    problems = literal_secret_problems(source.data["c"], secret_fields(_Creds), source, ("c",))

    assert [str(p) for p in problems] == [
        "c.yaml:3:13: warning: c.password: secret written in the file; "
        "prefer ${env:NAME} or ${file:/path}"
    ]
    assert SECRET not in str(problems)
