"""``recipe-runner schema``: the JSON Schemas an editor uses accept the recipes the validator
accepts and flag the mistakes it flags (unknown type, misspelt param, missing param)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from connectors.catalog import default_registry
from runner.cli import main
from tests.engine_support import Endpoint
from tests.test_engine_jobs import recipe as engine_recipe
from tests.test_recipe_validation import GOOD

CORPUS = Path(__file__).parent / "corpus"


def schema_from_cli(capsys: pytest.CaptureFixture[str], kind: str) -> dict[str, Any]:
    assert main(["schema", kind]) == 0
    schema: dict[str, Any] = json.loads(capsys.readouterr().out)
    return schema


def errors(schema: dict[str, Any], text: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [e.message for e in validator.iter_errors(yaml.safe_load(text))]


@pytest.fixture
def recipe_schema(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    return schema_from_cli(capsys, "recipes")


def test_both_schemas_are_valid_draft_2020_12(
    capsys: pytest.CaptureFixture[str], recipe_schema: dict[str, Any]
) -> None:
    connections = schema_from_cli(capsys, "connections")
    for schema in (recipe_schema, connections):
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)


def test_every_registered_type_appears_with_its_required_params(
    recipe_schema: dict[str, Any],
) -> None:
    registry = default_registry()
    defs = recipe_schema["$defs"]
    step_types = [c["const"] for c in defs["step"]["properties"]["type"]["oneOf"]]
    assert step_types == [*registry.actions, "for_each", "stop"]
    trigger_types = [c["const"] for c in defs["trigger"]["properties"]["type"]["oneOf"]]
    assert trigger_types == list(registry.triggers)
    specs = [*(("action", s) for s in registry.actions.values()),
             *(("trigger", s) for s in registry.triggers.values())]
    for kind, spec in specs:
        required = set(defs[f"{kind}:{spec.key}"].get("required", []))
        fields = spec.params.model_fields.items()
        assert {f.alias or n for n, f in fields if f.is_required()} <= required, spec.key
        assert "type" in required
    assert defs["action:http.request"]["required"] == ["type", "url"]


def test_sample_recipes_from_the_tests_validate(recipe_schema: dict[str, Any]) -> None:
    assert errors(recipe_schema, GOOD) == []
    schedule = engine_recipe_with_schedule()
    assert errors(recipe_schema, schedule) == []


def engine_recipe_with_schedule() -> str:
    """The engine tests' recipe, on the shipped schedule trigger instead of the test list."""
    text = engine_recipe(Endpoint(url="http://127.0.0.1:1/hook"), [{"id": "a", "n": 1}])
    head, _, rest = text.partition("trigger:")
    _, _, actions = rest.partition("actions:")
    return head + "trigger:\n  type: schedule\n  every: 5m\nactions:" + actions


def test_templates_are_accepted_for_typed_params(recipe_schema: dict[str, Any]) -> None:
    text = GOOD.replace('timeout_s: "{{ 5 * 2 }}"', 'timeout_s: "{{ vars.timeout }}"')
    assert errors(recipe_schema, text) == []
    assert errors(recipe_schema, GOOD.replace('timeout_s: "{{ 5 * 2 }}"', "timeout_s: soon"))


def test_durations_accept_text_and_numbers(recipe_schema: dict[str, Any]) -> None:
    for value in ("2s", "1h30m", "250ms", "7"):
        assert errors(recipe_schema, GOOD.replace("delay: 2s", f"delay: {value}")) == []
    assert errors(recipe_schema, GOOD.replace("delay: 2s", "delay: soon"))


@pytest.mark.parametrize(
    ("broken", "fragment"),
    [
        ("07-unknown-trigger.yaml", "is not valid under any of the given schemas"),
        ("05-unknown-top-key.yaml", "Additional properties are not allowed"),
    ],
)
def test_broken_corpus_recipes_are_flagged(
    recipe_schema: dict[str, Any], broken: str, fragment: str
) -> None:
    text = (CORPUS / "recipes" / broken).read_text()
    assert any(fragment in message for message in errors(recipe_schema, text))


def test_misspelt_param_and_missing_required_param_are_flagged(
    recipe_schema: dict[str, Any],
) -> None:
    misspelt = errors(recipe_schema, GOOD.replace("    method: POST", "    methd: POST"))
    assert any("'methd' was unexpected" in m for m in misspelt)
    missing = errors(recipe_schema, GOOD.replace("    url: /report\n", ""))
    assert any("'url' is a required property" in m for m in missing)


def test_nested_steps_and_error_handlers_are_checked(recipe_schema: dict[str, Any]) -> None:
    nested = GOOD.replace('message: "n={{ n }}"', "mesage: oops")
    assert any("'mesage' was unexpected" in m for m in errors(recipe_schema, nested))
    handler = GOOD.replace("level: error", "level: loud")
    assert any("'loud'" in m for m in errors(recipe_schema, handler))


def test_output_option_writes_the_schema_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / ".schemas" / "recipe.json"
    assert main(["schema", "recipes", "--output", str(target)]) == 0
    assert json.loads(target.read_text())["title"] == "recipe-runner recipe"
