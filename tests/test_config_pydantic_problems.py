"""Pydantic validation errors become short problems pointing where the user must edit."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from runner.config import allowed_keys, parse_yaml, problems_from_validation_error


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table: str
    count: int = 1


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant_id: str
    mode: Literal["cloud", "on_premise"] = "cloud"
    secret: SecretStr | None = None
    steps: list[_Inner] = []


def _problems(text: str, prefix: tuple[str, ...] = ("conn",)) -> list[str]:
    source = parse_yaml(text, "c.yaml")
    data: Any = source.data["conn"]
    try:
        _Outer.model_validate(data)
    except ValidationError as exc:
        found = problems_from_validation_error(exc, source, prefix, data=data, model=_Outer,
                                               context="demo")
        return [str(p) for p in found]
    return []


def test_missing_field_points_at_the_parent_mapping_key() -> None:
    assert _problems("conn:\n  mode: cloud\n") == [
        "c.yaml:1:1: conn.tenant_id: field required (demo)"
    ]


def test_unknown_key_points_at_the_key_and_suggests_the_closest_allowed_key() -> None:
    assert _problems("conn:\n  tenant_id: t\n  mdoe: cloud\n") == [
        "c.yaml:3:3: conn.mdoe: unknown key 'mdoe' (did you mean 'mode'?) (demo)"
    ]


def test_wrong_type_points_at_the_value() -> None:
    assert _problems("conn:\n  tenant_id: [a]\n") == [
        "c.yaml:2:14: conn.tenant_id: must be a string (demo)"
    ]


def test_bad_choice_lists_the_choices_and_suggests_one() -> None:
    assert _problems("conn:\n  tenant_id: t\n  mode: onprem\n") == [
        "c.yaml:3:9: conn.mode: must be 'cloud' or 'on_premise', not 'onprem' "
        "(did you mean 'on_premise'?) (demo)"
    ]


def test_errors_inside_list_items_use_indexes_and_nested_suggestions() -> None:
    text = "conn:\n  tenant_id: t\n  steps:\n    - table: a\n    - tabel: b\n      count: x\n"

    assert _problems(text) == [
        "c.yaml:5:7: conn.steps[1].table: field required (demo)",
        "c.yaml:6:14: conn.steps[1].count: must be a whole number (demo)",
        "c.yaml:5:7: conn.steps[1].tabel: unknown key 'tabel' (did you mean 'table'?) (demo)",
    ]


def test_wrong_secret_type_message_does_not_echo_the_value() -> None:
    problems = _problems("conn:\n  tenant_id: t\n  secret: 123456789\n")

    assert problems == ["c.yaml:3:11: conn.secret: must be a string (demo)"]
    assert "123456789" not in problems[0]


def test_allowed_keys_follow_lists_and_nested_models() -> None:
    assert allowed_keys(_Outer) == {"tenant_id", "mode", "secret", "steps"}
    assert allowed_keys(_Outer, ("steps", 0)) == {"table", "count"}
