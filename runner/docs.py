"""``recipe-runner docs``: the reference of every trigger, action and connection type,
generated from the same pydantic models the validator uses, into ``docs/reference.md``.

The output is deterministic (sorted keys, no dates), so the committed file can be compared
with a fresh run: ``recipe-runner docs --check`` exits 1 when it is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import PydanticUndefined, core_schema

from connectors.base import ActionSpec, Registry, TriggerSpec
from connectors.catalog import default_registry
from connectors.durations import parse_duration
from runner.connections.models import CONNECTION_MODELS, ConnectionsFile, OAuthProfile
from runner.docs_recipes import (
    action_sections,
    cookbook_sections,
    recipe_file_sections,
    trigger_sections,
)
from runner.idempotency import GUARANTEE, verdict_line
from runner.recipes.envelope import RetryModel, StepEnvelope, TriggerEnvelope

DEFAULT_OUTPUT = Path("docs/reference.md")
REGENERATE = "recipe-runner docs --output docs/reference.md"
TABLE_HEAD = ("| name | type | required / default | description | examples |\n"
              "| --- | --- | --- | --- | --- |")


class _Generator(GenerateJsonSchema):
    """Marks durations (``30s``, ``5m`` or seconds) so the type column can say so."""

    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> dict[str, Any]:
        if schema["function"].get("function") is parse_duration:
            return {"type": "string", "format": "duration"}
        return super().function_before_schema(schema)


# -- command -------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", type=Path, default=DEFAULT_OUTPUT,
                        help=f"file to write (default {DEFAULT_OUTPUT}); '-' for stdout")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the file differs from fresh output")


def main(args: argparse.Namespace, registry: Registry | None = None) -> int:
    text = reference_markdown(registry or default_registry())
    output: Path = args.output
    if str(output) == "-":
        sys.stdout.write(text)
        return 0
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            print(f"{output} is stale; regenerate it with: {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}", file=sys.stderr)
    return 0


# -- the document ----------------------------------------------------------------------


def reference_markdown(registry: Registry) -> str:
    """The whole reference as Markdown; the same registry always gives the same text."""
    triggers = [registry.triggers[k] for k in sorted(registry.triggers)]
    actions = [registry.actions[k] for k in sorted(registry.actions)]
    parts = [
        "# Reference: recipes, triggers, actions, connections",
        f"<!-- Generated from the connectors' schemas by `{REGENERATE}`. Do not edit. -->",
        "Everything a recipe file can say: its keys, the control steps, what templates see, "
        "every trigger (with the events it delivers) and action (with what it returns), "
        "each with an example recipe, a cookbook of common recipes, and the connections "
        "file.",
        _contents(triggers, actions),
        *recipe_file_sections(_table),
        "## Fields every trigger and action takes",
        "A trigger's params sit beside `type` under `trigger:`; an action's beside `type` in "
        "its step. Any param may instead be a template such as `{{ trigger.record.name }}`, "
        "checked once it is rendered.",
        "### Trigger",
        _table(TriggerEnvelope, skip={"type", "connection"}),
        "### Step",
        _table(StepEnvelope, skip={"type", "connection"}),
        "`retry`:",
        _table(RetryModel),
        "## Triggers",
        *[section for spec in triggers for section in _spec_sections(spec)],
        "## Actions",
        GUARANTEE,
        *[section for spec in actions for section in _spec_sections(spec)],
        *cookbook_sections(),
        *_connection_sections(),
    ]
    return "\n\n".join(parts) + "\n"


def _contents(triggers: list[TriggerSpec], actions: list[ActionSpec]) -> str:
    lines = ["| kind | key | summary |", "| --- | --- | --- |",
             "| recipe | [the recipe file](#the-recipe-file) | top-level keys, `for_each`, "
             "`stop` |",
             "| recipe | [templates](#templates-what-a-step-can-see) | `trigger.record`, "
             "`steps.<id>`, `vars`, `job`, filters |"]
    for spec in (*triggers, *actions):
        lines.append(f"| {spec.kind} | [`{spec.key}`](#{_anchor(spec.key)}) "
                     f"| {_cell(spec.summary)} |")
    lines.append("| recipe | [cookbook](#cookbook) | whole recipes for common Dynamics jobs |")
    lines.append("| connection | [`connections.yaml`](#connections-file-connectionsyaml) "
                 "| the connections file: every connection type and its fields |")
    return "\n".join(lines)


def _anchor(key: str) -> str:
    """GitHub's heading anchor for a heading that is just the key in backticks."""
    return "".join(c for c in key.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def _spec_sections(spec: ActionSpec | TriggerSpec) -> Iterator[str]:
    yield f"### `{spec.key}`"
    yield _cell(spec.summary)
    yield f"Connection: {_connection_line(spec)}."
    if isinstance(spec, ActionSpec):
        yield verdict_line(spec)
    if spec.params.model_fields:
        yield _table(spec.params)
    else:
        yield "No params."
    for model in _nested_models(spec.params):
        yield f"`{model.__name__}`:"
        yield _table(model)
    if isinstance(spec, TriggerSpec):
        yield from trigger_sections(spec)
    else:
        yield from action_sections(spec)


def _connection_line(spec: ActionSpec | TriggerSpec) -> str:
    if not spec.connection_types:
        return "none"
    names = " or ".join(f"`{t}`" for t in spec.connection_types)
    # the validator's rule: an action that takes an http connection may run without one
    optional = isinstance(spec, ActionSpec) and "http" in spec.connection_types
    return f"{names} ({'optional' if optional else 'required'})"


def _connection_sections() -> Iterator[str]:
    yield "## Connections file (`connections.yaml`)"
    yield ("Named connections that recipes refer to by `connection:`. Secrets may be written "
           "as `${env:NAME}` or `${file:/path}` references. `recipe-runner schema connections` "
           "prints the JSON Schema of this file.")
    yield _table(ConnectionsFile)
    for kind in sorted(CONNECTION_MODELS):
        model = CONNECTION_MODELS[kind]
        yield f"### `{kind}` connection"
        yield _cell(model.__doc__ or "")
        yield _table(model)
    yield "### OAuth profile (`oauth_profiles.<name>`)"
    yield _cell(OAuthProfile.__doc__ or "")
    yield _table(OAuthProfile)


# -- tables ----------------------------------------------------------------------------


def _table(model: type[BaseModel], skip: frozenset[str] | set[str] = frozenset()) -> str:
    schema = model.model_json_schema(schema_generator=_Generator)
    properties: dict[str, Any] = schema.get("properties", {})
    rows = [TABLE_HEAD]
    # `type` first: it is what a reader looks for when picking a connection or step
    fields = sorted(model.model_fields.items(), key=lambda item: item[0] != "type")
    for name, field in fields:
        key = field.alias or name
        if key in skip:
            continue
        rows.append(_row(key, field, properties.get(key, {})))
    return "\n".join(rows)


def _row(key: str, field: FieldInfo, prop: dict[str, Any]) -> str:
    examples = ", ".join(f"`{_json(e)}`" for e in field.examples or [])
    return (f"| `{key}` | {_cell(_type(prop))} | {_requirement(field)} "
            f"| {_cell(field.description or '')} | {_cell(examples, prose=False)} |")


def _requirement(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        default = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "optional"
    else:
        default = field.default
    if default is None:
        return "optional"
    return f"default `{_json(default)}`"


def _type(prop: dict[str, Any]) -> str:
    """A short, readable type from a JSON Schema fragment."""
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    choices = prop.get("anyOf") or prop.get("oneOf")
    if choices:
        kinds = [_type(p) for p in choices if p.get("type") != "null"]
        return " or ".join(dict.fromkeys(kinds)) or "null"
    if "enum" in prop:
        return " | ".join(_json(v) for v in prop["enum"])
    if "const" in prop:
        return _json(prop["const"])
    return _simple_type(prop)


def _simple_type(prop: dict[str, Any]) -> str:
    kind = prop.get("type")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object":
        patterns = list(prop.get("patternProperties", {}).values())
        values = prop.get("additionalProperties") or (patterns[0] if patterns else None)
        return f"map of {_type(values)}" if isinstance(values, dict) else "map"
    if kind == "string" and prop.get("format") == "duration":
        return "duration (`30s`, `5m`, `1h` or seconds)"
    if kind == "string" and prop.get("format") == "password":
        return "secret string"
    if kind == "string" and "format" in prop:
        return f"string ({prop['format']})"
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind if k != "null")
    return str(kind) if kind else "any"


def _nested_models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """Models used by ``model``'s fields (e.g. a batch's requests), in first-use order."""
    found: dict[str, type[BaseModel]] = {}

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation.__name__ not in found:
                found[annotation.__name__] = annotation
                for field in annotation.model_fields.values():
                    visit(field.annotation)
            return
        for arg in getattr(annotation, "__args__", ()):
            visit(arg)

    for field in model.model_fields.values():
        visit(field.annotation)
    return list(found.values())


def _json(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, ensure_ascii=False, default=str)


def _cell(text: str, *, prose: bool = True) -> str:
    """One line of Markdown: no line breaks, pipes escaped, and in prose ``<id>`` kept
    visible (a renderer would take it for an HTML tag)."""
    line = " ".join(text.split()).replace("|", "\\|")
    return line.replace("<", "&lt;").replace(">", "&gt;") if prose else line
