"""YAML loading keeps the line and column of every key and value, and reports bad YAML."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.config import Position, load_yaml, parse_yaml

TEXT = """\
connections:
  crm:
    type: dynamics365
    scopes:
      - a
      - b
"""


def test_positions_of_keys_values_and_list_items_are_one_based() -> None:
    source = parse_yaml(TEXT, "c.yaml")

    assert source.problems == []
    assert source.data == yaml.safe_load(TEXT)
    assert source.position(("connections", "crm", "type"), "key") == Position(3, 5)
    assert source.position(("connections", "crm", "type")) == Position(3, 11)
    assert source.position(("connections", "crm", "scopes", 1)) == Position(6, 9)


def test_missing_field_points_at_the_parent_key() -> None:
    source = parse_yaml(TEXT, "c.yaml")

    assert source.position(("connections", "crm", "tenant_id"), "parent") == Position(2, 3)
    assert source.position(("connections", "crm", "tenant_id")) == Position(2, 3)


def test_problem_helper_positions_and_names_the_file() -> None:
    source = parse_yaml(TEXT, "c.yaml")

    problem = source.problem(("connections", "crm", "type"), "bad", context="x")

    assert str(problem) == "c.yaml:3:11: connections.crm.type: bad (x)"


def test_anchors_aliases_and_merge_keys_load_like_safe_load() -> None:
    text = """\
x-base: &base
  type: dynamics365
  tenant_id: t
connections:
  crm:
    <<: *base
    tenant_id: override
  copy: *base
"""
    source = parse_yaml(text, "c.yaml")

    assert source.problems == []
    assert source.data == yaml.safe_load(text)
    # merged keys point at the anchor, where they are written; own keys at themselves
    assert source.position(("connections", "crm", "type")) == Position(2, 9)
    assert source.position(("connections", "crm", "tenant_id")) == Position(7, 16)
    assert source.position(("connections", "copy", "tenant_id")) == Position(3, 14)


def test_overriding_a_merged_key_is_not_a_duplicate() -> None:
    text = "base: &b {a: 1}\nm:\n  <<: *b\n  a: 2\n"

    source = parse_yaml(text, "c.yaml")

    assert source.problems == []
    assert source.data["m"] == {"a": 2}


def test_duplicate_key_is_a_problem_at_the_second_key() -> None:
    source = parse_yaml("a: 1\nb:\n  c: 1\n  c: 2\n", "c.yaml")

    assert [str(p) for p in source.problems] == ["c.yaml:4:3: duplicate key 'c' (first at line 3)"]


def test_syntax_error_is_a_problem_with_pyyaml_position() -> None:
    source = parse_yaml("a:\n  b: 1\n   c: 2\n", "c.yaml")

    assert source.data is None
    assert [str(p) for p in source.problems] == [
        "c.yaml:3:5: YAML syntax error: mapping values are not allowed here"
    ]


def test_unclosed_flow_mapping_reports_where_pyyaml_noticed() -> None:
    source = parse_yaml("a: {b: 1\nc: 2\n", "c.yaml")

    assert len(source.problems) == 1
    assert source.problems[0].line == 2
    assert "YAML syntax error" in source.problems[0].message


def test_recursive_alias_is_a_problem_not_a_hang() -> None:
    # Recursive data would loop (or overflow the stack) in everything that walks it.
    source = parse_yaml("a: &x [1, *x]\n", "c.yaml")

    assert source.data is None
    assert [str(p) for p in source.problems] == [
        "c.yaml:1:4: an alias refers to a value that contains it (recursive data)"]


def test_missing_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    source = load_yaml(tmp_path / "nope.yaml", "nope.yaml")

    assert source.data is None
    assert [str(p) for p in source.problems] == [
        "nope.yaml: cannot read: No such file or directory"
    ]


def test_empty_file_has_no_data_and_no_problems(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")

    source = load_yaml(path)

    assert source.data is None
    assert source.problems == []


def test_unquoted_reference_in_flow_mapping_gets_a_quoting_hint() -> None:
    source = parse_yaml("corp: {client_id: abc, client_secret: ${env:X}}\n", "c.yaml")

    assert [str(p) for p in source.problems] == [
        "c.yaml:1:40: YAML syntax error: while parsing a flow mapping, expected ',' or '}', "
        "but got '{' (inside [ ] or { }, quote references: \"${env:NAME}\")"
    ]


_keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
_scalars = st.one_of(st.integers(), st.booleans(), st.none(), st.text(max_size=10))
_documents = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=20,
)


def _paths(data: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


@settings(max_examples=60, deadline=None)
@given(document=_documents, flow=st.booleans())
def test_every_field_of_any_document_has_a_position(document: object, flow: bool) -> None:
    text = yaml.safe_dump(document, default_flow_style=flow)

    source = parse_yaml(text, "c.yaml")

    assert source.problems == []
    assert source.data == document
    assert all(path in source.positions for path in _paths(document))
