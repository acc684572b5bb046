"""``recipe-runner schema recipes|connections``: JSON Schemas (draft 2020-12) so an editor
with the YAML language server checks files while they are typed::

    recipe-runner schema recipes --output .schemas/recipe.json
    # first line of a recipe file:
    # yaml-language-server: $schema=../.schemas/recipe.json

The recipe schema is built from the same models the validator uses: the envelope
(``runner.recipes.envelope``) and, for every trigger and action type in the registry, its
params model, selected by ``type`` with ``if``/``then``. A param's value may always be a
template (``{{ … }}``), as in the validator, which checks templated values only once they
are rendered. The schema is a help while typing; ``recipe-runner validate`` stays the
authority (it also checks connections, cross-field rules and template syntax).
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema
from pydantic_core import core_schema

from connectors.base import ActionSpec, Registry, TriggerSpec
from connectors.catalog import default_registry
from connectors.durations import parse_duration
from runner.connections.models import connections_json_schema
from runner.recipes.envelope import (
    ForEachParams,
    RecipeEnvelope,
    StepEnvelope,
    StopParams,
    TriggerEnvelope,
)

DIALECT = "https://json-schema.org/draft/2020-12/schema"
REF_TEMPLATE = "#/$defs/{model}"
TEMPLATE_REF = {"$ref": "#/$defs/template"}
STEP_REF = {"$ref": "#/$defs/step"}
TEMPLATE = {
    "type": "string",
    "pattern": r"\{\{|\{%",
    "description": "A template, rendered for each event: {{ trigger.record.x }}, steps.<id> …",
}
DURATION = {
    "anyOf": [
        {"type": "number", "minimum": 0, "description": "Seconds."},
        {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*([mM][sS]|[sSmMhHdD])\s*)+$",
         "description": "Like 30s, 5m, 1h30m, 2d."},
    ]
}
_HOVER_KEYS = ("title", "description", "default", "examples")


class _Generator(GenerateJsonSchema):
    """Pydantic's generator, knowing that a ``Duration`` also takes text such as ``5m``."""

    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> dict[str, Any]:
        if schema["function"].get("function") is parse_duration:
            return json.loads(json.dumps(DURATION))
        return super().function_before_schema(schema)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=["recipes", "connections"], help="which file's schema")
    parser.add_argument("--output", "-o", type=Path, help="write to this file, not stdout")


def main(args: argparse.Namespace, registry: Registry | None = None) -> int:
    schema = (recipe_json_schema(registry or default_registry()) if args.kind == "recipes"
              else connections_json_schema())
    text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        print(text, end="")
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    return 0


# -- the recipe schema ---------------------------------------------------------------


class _Models:
    """Every model's schema, generated together so shared sub-models get one ``$defs`` entry."""

    def __init__(self, models: list[type[BaseModel]]) -> None:
        refs, top = models_json_schema(
            [(m, "validation") for m in models],
            ref_template=REF_TEMPLATE,
            schema_generator=_Generator,
        )
        self.defs: dict[str, Any] = top.get("$defs", {})
        self._names = {m: refs[(m, "validation")]["$ref"].rsplit("/", 1)[1] for m in models}

    def properties(self, model: type[BaseModel]) -> dict[str, Any]:
        return copy.deepcopy(self.defs[self._names[model]].get("properties", {}))

    def required(self, model: type[BaseModel]) -> list[str]:
        return list(self.defs[self._names[model]].get("required", []))

    def drop_inlined(self, keep: dict[str, Any]) -> None:
        """Remove the defs of models that were copied inline and are not referenced."""
        text = json.dumps(keep)
        for name in set(self._names.values()):
            if f'"#/$defs/{name}"' not in text:
                self.defs.pop(name, None)


def recipe_json_schema(registry: Registry) -> dict[str, Any]:
    """The JSON Schema of one recipe file for the triggers and actions in ``registry``."""
    params = [s.params for s in (*registry.triggers.values(), *registry.actions.values())]
    envelopes = [RecipeEnvelope, TriggerEnvelope, StepEnvelope, ForEachParams, StopParams]
    models = _Models([*envelopes, *dict.fromkeys(params)])
    root = _closed(models.properties(RecipeEnvelope), models.required(RecipeEnvelope))
    root["properties"]["trigger"] = {"$ref": "#/$defs/trigger",
                                     "description": "What starts a job."}
    root["properties"]["actions"] = {"type": "array", "minItems": 1, "items": STEP_REF,
                                     "description": "The steps, in order."}
    defs = {"template": TEMPLATE, "trigger": _trigger_union(registry),
            "step": _step_union(registry)}
    for trigger in registry.triggers.values():
        defs[f"trigger:{trigger.key}"] = _trigger_schema(trigger, models)
    for action in registry.actions.values():
        defs[f"action:{action.key}"] = _action_schema(action, models)
    defs["for_each"] = _control_schema("for_each", ForEachParams, models)
    defs["stop"] = _control_schema("stop", StopParams, models)
    models.drop_inlined({"root": root, "defs": defs})
    return {"$schema": DIALECT, "title": "recipe-runner recipe", **root,
            "$defs": {**models.defs, **defs}}


def _closed(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _type_choice(key: str, summary: str) -> dict[str, Any]:
    return {"const": key, "description": summary}


def _dispatch(kinds: dict[str, str], prefix: str, what: str) -> dict[str, Any]:
    """``type`` must be one of ``kinds``; the rest of the object follows that type's schema."""
    return {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"description": what,
                                "oneOf": [_type_choice(k, s) for k, s in kinds.items()]}},
        "allOf": [
            {"if": {"properties": {"type": {"const": key}}, "required": ["type"]},
             "then": {"$ref": f"#/$defs/{prefix}{key}"}}
            for key in kinds
        ],
    }


def _trigger_union(registry: Registry) -> dict[str, Any]:
    kinds = {key: spec.summary for key, spec in registry.triggers.items()}
    return _dispatch(kinds, "trigger:", "Trigger type.")


def _step_union(registry: Registry) -> dict[str, Any]:
    kinds = {key: spec.summary for key, spec in registry.actions.items()}
    kinds["for_each"] = "Run the nested actions once for each item of a list."
    kinds["stop"] = "End the job here, as a success or an error."
    union = _dispatch(kinds, "action:", "Action type, for_each or stop.")
    for branch in union["allOf"][-2:]:  # control steps have their own defs
        branch["then"] = {"$ref": f"#/$defs/{branch['if']['properties']['type']['const']}"}
    return union


def _with_templates(properties: dict[str, Any]) -> dict[str, Any]:
    """Each param may also be a template; hover texts stay on the outside."""
    wrapped = {}
    for name, prop in properties.items():
        hover = {k: prop.pop(k) for k in _HOVER_KEYS if k in prop}
        wrapped[name] = {**hover, "anyOf": [prop, TEMPLATE_REF]} if prop else hover
    return wrapped


def _connection_property(spec: ActionSpec | TriggerSpec) -> dict[str, Any]:
    return {"type": "string",
            "description": f"Name of a connection of type {' or '.join(spec.connection_types)}."}


def _trigger_schema(spec: TriggerSpec, models: _Models) -> dict[str, Any]:
    envelope = models.properties(TriggerEnvelope)
    properties = {"type": {"const": spec.key},
                  **{key: envelope[key] for key in ("poll_interval", "batch_size", "batch_wait",
                                                    "shared")}}
    required = ["type", *models.required(spec.params)]
    if spec.connection_types:
        properties["connection"] = _connection_property(spec)
        required.append("connection")
    properties.update(_with_templates(models.properties(spec.params)))
    return {"description": spec.summary, **_closed(properties, required)}


def _step_envelope(models: _Models, key: str) -> dict[str, Any]:
    envelope = models.properties(StepEnvelope)
    return {
        "id": envelope["id"],
        "type": {"const": key},
        "if": envelope["if"],
        "retry": envelope["retry"],
        "on_error": {
            "description": envelope["on_error"].get("description"),
            "default": "fail",
            "anyOf": [{"enum": ["fail", "continue"]},
                      {"type": "array", "minItems": 1, "items": STEP_REF}],
        },
    }


def _action_schema(spec: ActionSpec, models: _Models) -> dict[str, Any]:
    properties = _step_envelope(models, spec.key)
    required = ["type", *models.required(spec.params)]
    if spec.connection_types:
        properties["connection"] = _connection_property(spec)
        if "http" not in spec.connection_types:  # http.request may run without one
            required.append("connection")
    properties.update(_with_templates(models.properties(spec.params)))
    return {"description": spec.summary, **_closed(properties, required)}


def _control_schema(key: str, model: type[BaseModel], models: _Models) -> dict[str, Any]:
    properties = _step_envelope(models, key)
    properties["connection"] = {"type": ["string", "null"]}
    own = models.properties(model)
    if "actions" in own:
        own["actions"] = {**own["actions"], "items": STEP_REF}
    properties.update(own)
    return _closed(properties, ["type", *models.required(model)])
