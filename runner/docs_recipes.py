"""The recipe author's part of ``docs/reference.md``: the recipe file's keys, the control
steps, what templates can see, and per trigger and action what its events are or what it
returns, with an example recipe generated from the params model (its first examples,
completed by ``runner.docs_catalog``). ``runner.docs`` assembles the document."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import yaml
from pydantic import BaseModel

from connectors.base import ActionSpec, TriggerSpec
from runner.docs_catalog import COOKBOOK, EVENTS, EXAMPLE_CONNECTIONS, EXAMPLES, RETURNS
from runner.recipes.envelope import ForEachParams, RecipeEnvelope, StopParams
from runner.templates import FILTERS

Table = Callable[..., str]
EXAMPLE_TRIGGER = {"type": "schedule", "every": "1h"}


def recipe_file_sections(table: Table) -> Iterator[str]:
    yield "## The recipe file"
    yield ("One YAML file per recipe, in the recipes folder (`--recipes`, "
           "`RECIPE_RUNNER_RECIPES`). `recipe-runner validate` checks every file and names "
           "file, line and column of each problem; `recipe-runner schema recipes` prints a "
           "JSON Schema for editors.")
    yield table(RecipeEnvelope)
    yield ("`variables` are seen by templates as `vars` (`{{ vars.region }}`). `trigger` "
           "takes the fields of [every trigger](#trigger) and those of its type; each "
           "entry of `actions` is a step: an action (below), `for_each` or `stop`.")
    yield "### `for_each`: run steps once per item"
    yield table(ForEachParams)
    yield ("Its output (`steps.<id>`) is `{\"count\": n}`. Inside, the current item is "
           "`item` (or the name given by `as`); step ids inside a loop hold the last "
           "iteration's output. Each iteration's steps are recorded on their own "
           "(`actions[1][2].actions[0]`: item 2), so a job that resumes skips the "
           "iterations already done.")
    yield "### `stop`: end the job early"
    yield table(StopParams)
    yield ("`message` (a template) is logged with the job's outcome; `outcome: error` makes "
           "the job `failed` (and `jobs retry` can run it again), `success` makes it "
           "`succeeded`. Usually paired with `if:`.")
    yield from _template_sections()


def _template_sections() -> Iterator[str]:
    yield "## Templates: what a step can see"
    yield ("Any param (and `if:`, `items:`, a `stop`'s `message`) may be a Jinja2 template, "
           "sandboxed, failing on undefined names. A value that is exactly one expression "
           "keeps its type (`\"{{ trigger.record.revenue }}\"` stays a number, a list stays "
           "a list); any other text renders to a string.")
    rows = [("trigger.record", "the record the trigger delivered (see each trigger's "
             "**Events**)"),
            ("trigger.kind", "what happened: `created`, `updated`, `upsert`, `deleted`, "
             "`batch`, `scheduled` or `received`"),
            ("trigger.key", "the event's identity (the engine drops a second event with the "
             "same key)"),
            ("steps.<id>", "the output of an earlier step with that `id` (see each action's "
             "**Returns**); a skipped step has none"),
            ("vars", "the recipe's `variables`"),
            ("job.id", "the job's id: stable across retries, good as an idempotency key"),
            ("job.attempt", "1 on the first run, 2 after a retry, …"),
            ("item", "inside `for_each`: the current item (or the name given by `as`)"),
            ("error.step, error.message, error.type", "inside `on_error` handler steps: "
             "which step failed and why"),
            ("now()", "the current time (UTC datetime)")]
    yield "\n".join(["| name | what it is |", "| --- | --- |",
                     *(f"| `{name}` | {text} |" for name, text in rows)])
    yield "Filters besides Jinja's own:"
    yield "\n".join(["| filter | what it does |", "| --- | --- |",
                     *(f"| `{name}` | {filter_text(name, func)} |"
                       for name, func in sorted(FILTERS.items()))])
    yield ("**Step ids** are letters, digits and `_`, starting with a letter: "
           "`{{ steps.my-step.id }}` would read as `steps.my` minus `step.id`, so `validate` "
           "refuses an id with `-` (or a leading digit) and suggests one with `_`.")


FILTER_TEXT = {
    "datetime": "text (ISO 8601) to a datetime, UTC when it has no offset: "
                "`{{ trigger.record.modifiedon | datetime }}`",
    "format_datetime": "a datetime or ISO text formatted (default `%Y-%m-%dT%H:%M:%SZ`, UTC): "
                       "`{{ now() | format_datetime('%Y-%m-%d') }}`",
    "add_seconds": "a datetime or ISO text plus N seconds (negative: earlier): "
                   "`{{ now() | add_seconds(-3600) }}`",
    "json": "the value as compact JSON text",
}


def filter_text(name: str, func: Callable[..., Any]) -> str:
    """What a template filter does: its docstring's first paragraph, else FILTER_TEXT."""
    doc = func.__doc__ or FILTER_TEXT.get(name, "")
    text = " ".join(doc.strip().split("\n\n")[0].split()).replace("``", "`")
    return text.replace("|", "\\|") or "undocumented"


# -- per trigger and action ----------------------------------------------------------


def trigger_sections(spec: TriggerSpec) -> Iterator[str]:
    events = EVENTS.get(spec.key)
    if events is not None:
        yield (f"**Events**: `trigger.kind` is {events.kinds}; `trigger.key` is "
               f"{events.key}; `trigger.record` is {events.record}")
    yield from _example(spec)


def action_sections(spec: ActionSpec) -> Iterator[str]:
    returns = RETURNS.get(spec.key)
    if returns is not None:
        yield f"**Returns** (`steps.<id>`): {returns.text} For example:"
        yield "```json\n" + json.dumps(returns.example, indent=2) + "\n```"
    yield from _example(spec)


def _example(spec: ActionSpec | TriggerSpec) -> Iterator[str]:
    yield "Example:"
    yield "```yaml\n" + example_yaml(spec) + "```"


def example_yaml(spec: ActionSpec | TriggerSpec) -> str:
    """A whole recipe using ``spec``: its required params from the model's first examples,
    completed and made realistic by ``runner.docs_catalog.EXAMPLES``."""
    return yaml.safe_dump(example_recipe(spec), sort_keys=False, allow_unicode=True, width=88,
                          default_flow_style=None)


def example_recipe(spec: ActionSpec | TriggerSpec) -> dict[str, Any]:
    extra = EXAMPLES.get(spec.key)
    params = {**_required_examples(spec.params), **(extra.params if extra else {})}
    connection = _connection(spec)
    name = "example-" + spec.key.replace(".", "-").replace("_", "-")
    if isinstance(spec, TriggerSpec):
        return {"name": name, "trigger": {"type": spec.key, **connection, **params},
                "actions": [{"type": "log", "message": "{{ trigger.kind }} {{ trigger.key }}"}]}
    trigger = dict(extra.trigger) if extra and extra.trigger else dict(EXAMPLE_TRIGGER)
    step = {"id": "step", "type": spec.key, **connection, **params}
    return {"name": name, "trigger": trigger,
            "actions": [step, {"type": "log", "message": "{{ steps.step }}"}]}


def _required_examples(model: type[BaseModel]) -> dict[str, Any]:
    found = {}
    for name, field in model.model_fields.items():
        if field.is_required() and field.examples:
            found[field.alias or name] = field.examples[0]
    return found


def _connection(spec: ActionSpec | TriggerSpec) -> dict[str, str]:
    if not spec.connection_types:
        return {}
    return {"connection": EXAMPLE_CONNECTIONS[spec.connection_types[0]]}


# -- cookbook ------------------------------------------------------------------------


def cookbook_sections() -> Iterator[str]:
    yield "## Cookbook"
    yield ("Whole recipes for common Dynamics jobs (connections `crm`: Dataverse, `fo`: "
           "Finance & Operations, `hooks`: HTTP). Each one passes `recipe-runner validate`.")
    for title, (text, recipe) in COOKBOOK.items():
        yield f"### {title}"
        yield text
        yield "```yaml\n" + recipe + "```"
