"""``recipe-runner run --dry-run``: what the daemon would do next, without doing it.

Each enabled recipe's trigger is polled from its stored cursor, and for the first events
every step is rendered with the event as a job would render it: templates evaluated,
``if`` conditions decided, ``for_each`` expanded, params checked against the action's
model. Nothing is sent and nothing is written: no action runs, no cursor moves, no job is
stored, the state store is only read (and not created when missing).

A dry run cannot know what earlier steps would return, so a value that reads
``steps.<id>`` is shown as written, with a note; a condition that reads them is taken as
true, so the steps after it are shown too.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from connectors.base import ConnectorError, Event, Registry, StepContext, TriggerSpec
from connectors.catalog import default_registry
from runner.cli_common import (
    EXIT_OK,
    load_connections_file,
    load_operator_recipes,
    open_store_for_reading,
    redactor_for,
    run_command,
    settings_from,
    warn,
)
from runner.engine.backfill import as_batches
from runner.engine.poller import batching_of, event_payload
from runner.output import counted, indented, pretty_json, print_json
from runner.recipes import ActionStep, ForEachStep, Recipe, Step, StopStep
from runner.redact import Redactor
from runner.runtime import ConnectionPool, needs_tokens, token_manager_for
from runner.store import Store
from runner.templates import TemplateRenderError, field_encodings, has_template, render_value

DEFAULT_LIMIT = 5
MAX_ITEMS_SHOWN = 20  # for_each iterations previewed per step
_STEPS_REFERENCE = re.compile(r"\bsteps\s*(?:\.\s*(\w+)|\[\s*['\"]([^'\"]+)['\"]\s*\])")

# What a previewed step would do.
RUN, SKIP, STOP, UNKNOWN, ERROR = "run", "skip", "stop", "partly unknown", "error"


@dataclass
class StepPreview:
    path: str
    type: str
    outcome: str  # RUN | SKIP | STOP | UNKNOWN | ERROR
    params: Any = None
    connection: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "type": self.type, "outcome": self.outcome,
                "connection": self.connection, "params": self.params, "note": self.note}


@dataclass
class EventPreview:
    key: str
    kind: str
    record: Any
    steps: list[StepPreview]

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "record": self.record,
                "steps": [s.to_json() for s in self.steps]}


@dataclass
class RecipePreview:
    recipe: str
    trigger: str
    cursor: Any = None
    events: list[EventPreview] = field(default_factory=list)
    more_waiting: bool = False  # the trigger had events beyond the limit
    skipped: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "trigger": self.trigger, "cursor": self.cursor,
                "skipped": self.skipped, "error": self.error, "more_waiting": self.more_waiting,
                "events": [e.to_json() for e in self.events]}


def step_references(value: str) -> set[str]:
    """The ``steps.<id>`` a template string reads (empty for a plain string)."""
    if not has_template(value):
        return set()
    return {a or b for a, b in _STEPS_REFERENCE.findall(value)}


# -- rendering the steps of one event -------------------------------------------------


class StepRenderer:
    """Renders a recipe's step tree for one event, the way ``JobExecution`` would run it."""

    def __init__(self, recipe: Recipe, payload: Any, registry: Registry) -> None:
        self.recipe = recipe
        self.registry = registry
        self.context: dict[str, Any] = {
            "trigger": payload, "steps": {}, "vars": recipe.variables,
            "variables": recipe.variables,
            "job": {"id": "dry-run", "attempt": 1},
        }
        self.previews: list[StepPreview] = []

    def render(self) -> list[StepPreview]:
        self._steps(self.recipe.steps, "", "")
        return self.previews

    def _steps(self, steps: Sequence[Step], raw_prefix: str, actual_prefix: str) -> bool:
        """Preview ``steps``; False once a stop step ends the job."""
        for step in steps:
            path = actual_prefix + step.path[len(raw_prefix):] if raw_prefix else step.path
            if not self._step(step, path):
                return False
        return True

    def _step(self, step: Step, path: str) -> bool:
        go, note = self._condition(step)
        if not go:
            self.previews.append(StepPreview(path, step.type, SKIP, note=note))
            return True
        if isinstance(step, StopStep):
            return self._stop(step, path, note)
        if isinstance(step, ForEachStep):
            return self._for_each(step, path, note)
        if isinstance(step, ActionStep):
            self.previews.append(self._action(step, path, note))
        return True

    def _condition(self, step: Step) -> tuple[bool, str | None]:
        if step.condition is None:
            return True, None
        needs = step_references(step.condition)
        if needs:
            return True, f"if {step.condition} reads {_names(needs)}: assumed true"
        try:
            return bool(self._render(step.condition, step, "if")), None
        except TemplateRenderError as exc:
            return True, f"if: {exc}"

    def _stop(self, step: StopStep, path: str, note: str | None) -> bool:
        message, needs = self._partial(step.message, step, "message")
        params = {"outcome": step.outcome, "message": message}
        if note is not None:  # the condition was not known: the job may go on
            self.previews.append(StepPreview(path, step.type, UNKNOWN, params, note=note))
            return True
        self.previews.append(StepPreview(path, step.type, STOP, params, note=_needs_note(needs)))
        return False

    def _for_each(self, step: ForEachStep, path: str, note: str | None) -> bool:
        items, needs = self._partial(step.items, step, "items")
        if needs or not isinstance(items, list | tuple):
            problem = _needs_note(needs) or f"items is {type(items).__name__}, not a list"
            self.previews.append(StepPreview(path, step.type, UNKNOWN if needs else ERROR,
                                             {"items": items}, note=_join(note, problem)))
            return True
        shown = items[:MAX_ITEMS_SHOWN]
        more = f"; showing the first {len(shown)}" if len(items) > len(shown) else ""
        self.previews.append(StepPreview(path, step.type, RUN, {"count": len(items)},
                                         note=_join(note, f"{len(items)} item(s){more}")))
        outer = self.context.get(step.item_name)
        try:
            for index, item in enumerate(shown):
                self.context[step.item_name] = item
                if not self._steps(step.steps, step.path, f"{path}[{index}]"):
                    return False
        finally:
            self.context[step.item_name] = outer
        return True

    def _action(self, step: ActionStep, path: str, note: str | None) -> StepPreview:
        try:
            params, needs = self._partial(step.params, step, "params")
        except TemplateRenderError as exc:
            return StepPreview(path, step.type, ERROR, step.params, step.connection,
                               _join(note, str(exc)))
        if needs:
            return StepPreview(path, step.type, UNKNOWN, params, step.connection,
                               _join(note, _needs_note(needs)))
        try:
            self.registry.actions[step.type].params.model_validate(params)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in error["loc"])
            problem = f"params after rendering: {where + ': ' if where else ''}{error['msg']}"
            return StepPreview(path, step.type, ERROR, params, step.connection,
                               _join(note, problem))
        return StepPreview(path, step.type, RUN, params, step.connection, note)

    def _render(self, value: Any, step: Step, what: str, encoding: str | None = None) -> Any:
        return render_value(value, self.context, f"{step.where}: {step.path}.{what}", encoding)

    def _partial(self, value: Any, step: Step, what: str) -> tuple[Any, set[str]]:
        """``value`` rendered, except strings reading ``steps.*`` (kept as written)."""
        needs: set[str] = set()
        spec = self.registry.actions.get(getattr(step, "type", ""))
        encodings = field_encodings(spec.params) if spec and what == "params" else {}

        def walk(item: Any, where: str, encoding: str | None = None) -> Any:
            if isinstance(item, str):
                found = step_references(item)
                needs.update(found)
                return item if found else self._render(item, step, where, encoding)
            if isinstance(item, dict):  # a param's encoding applies to its whole value
                return {k: walk(v, f"{where}.{k}", encodings.get(k) if where == what
                                else encoding) for k, v in item.items()}
            if isinstance(item, list):
                return [walk(v, f"{where}[{i}]", encoding) for i, v in enumerate(item)]
            return item

        return walk(value, what), needs


def _names(needs: set[str]) -> str:
    return ", ".join(f"steps.{name}" for name in sorted(needs))


def _needs_note(needs: set[str]) -> str | None:
    if not needs:
        return None
    return f"needs {_names(needs)} (not known in a dry run): shown unrendered"


def _join(*notes: str | None) -> str | None:
    present = [n for n in notes if n]
    return "; ".join(present) if present else None


def preview_steps(recipe: Recipe, event: Event, registry: Registry) -> EventPreview:
    """Every step of ``recipe`` rendered for ``event``; never runs an action."""
    steps = StepRenderer(recipe, event_payload(event), registry).render()
    return EventPreview(event.key, event.kind, event.record, steps)


# -- polling without committing ---------------------------------------------------------


async def first_events(
    spec: TriggerSpec, params: Any, cursor: Any, ctx: StepContext, limit: int
) -> tuple[list[Event], bool]:
    """Up to ``limit`` events from the cursor on, and whether more were waiting; pages
    after the one that reached the limit are not fetched."""
    events: list[Event] = []
    pages: AsyncIterator[Any] = spec.poll(params, cursor, ctx)
    try:
        async for page in pages:
            events.extend(page.events)
            if len(events) >= limit:
                break
    finally:
        close = getattr(pages, "aclose", None)
        if close is not None:
            await close()  # the trigger's own clean-up (sessions, cursors) runs now
    return events[:limit], len(events) > limit


async def preview_recipe(
    recipe: Recipe, registry: Registry, store: Store | None, pool: ConnectionPool, limit: int
) -> RecipePreview:
    """Poll ``recipe``'s trigger from its stored cursor and render the first events."""
    preview = RecipePreview(recipe.name, recipe.trigger.type)
    if not recipe.enabled:
        preview.skipped = "disabled in its file"
        return preview
    if store is not None:
        if (await store.get_recipe_state(recipe.name)).enabled is False:
            preview.skipped = "disabled by operator"
            return preview
        preview.cursor, _epoch = await store.load_cursor(recipe.name)
    spec = registry.triggers[recipe.trigger.type]
    try:
        connection = pool.get(recipe.trigger.connection) if spec.connection_types else None
        ctx = StepContext(recipe=recipe.name, connection=connection)
        params = spec.params.model_validate(recipe.trigger.params)
        events, preview.more_waiting = await first_events(
            spec, params, preview.cursor, ctx, limit)
    except ConnectorError as exc:
        preview.error = exc.message
        return preview
    if (batching := batching_of(recipe)) is not None:
        events = as_batches(events, batching)  # as the jobs would group them
    preview.events = [preview_steps(recipe, event, registry) for event in events]
    return preview


async def dry_run(
    recipes: Sequence[Recipe], registry: Registry, store: Store | None, pool: ConnectionPool,
    limit: int = DEFAULT_LIMIT,
) -> list[RecipePreview]:
    """A preview of every recipe, in order; one recipe's failure does not stop the others."""
    return [await preview_recipe(r, registry, store, pool, limit) for r in recipes]


# -- the command ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The dry-run options of ``recipe-runner run``."""
    parser.add_argument("--dry-run", action="store_true",
                        help="poll and render the next events' steps; send and write nothing")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT,
                        help=f"with --dry-run: events per recipe (default {DEFAULT_LIMIT})")
    parser.add_argument("--json", action="store_true", help="with --dry-run: print JSON")


def main(args: argparse.Namespace, registry: Registry | None = None) -> int:
    return run_command(_command(args, registry or default_registry()))


async def _command(args: argparse.Namespace, registry: Registry) -> int:
    settings = settings_from(args)
    connections = load_connections_file(settings)
    loaded = load_operator_recipes(settings, registry, connections)
    for problem in loaded.errors:
        warn(f"left out: {problem}")
    recipes = sorted(loaded.recipes.values(), key=lambda recipe: recipe.name)
    # OAuth connections need the token cache, and a refresh may rotate the refresh token,
    # which must be saved: then the store is opened for writing (tokens only; no jobs).
    if needs_tokens(connections):
        store: Store | None = await Store.open(settings.state_url)
    else:
        store = await open_store_for_reading(settings.state_url, missing_ok=True)
    tokens = token_manager_for(connections, store, settings.state_url) if store else None
    if tokens is not None:
        await tokens.start()
    pool = ConnectionPool(connections, tokens)
    try:
        previews = await dry_run(recipes, registry, store, pool, max(args.limit, 1))
    finally:
        await pool.close()
        if tokens is not None:
            tokens.close()
        if store is not None:
            await store.close()
    redactor = redactor_for(connections)
    if args.json:
        print_json(redactor.value([p.to_json() for p in previews]))
    else:
        print(describe(previews, redactor))
    return EXIT_OK


def describe(previews: Sequence[RecipePreview], redactor: Redactor) -> str:
    """The previews for people; secrets masked."""
    lines: list[str] = []
    for preview in previews:
        lines.extend(_describe_recipe(preview, redactor))
    lines.append("dry run: no action was called, nothing was written")
    return "\n".join(lines)


def _describe_recipe(preview: RecipePreview, redactor: Redactor) -> list[str]:
    head = f"recipe {preview.recipe} ({preview.trigger})"
    if preview.skipped or preview.error:
        return [f"{head}: {preview.skipped or 'poll failed: ' + (preview.error or '')}"]
    cursor = redactor.value(preview.cursor)
    lines = [f"{head}, cursor {_compact(cursor)}: {counted(len(preview.events), 'event')}"]
    for event in preview.events:
        lines.append(f"  event {event.key} ({event.kind}): "
                     f"{_compact(redactor.value(event.record))}")
        for step in event.steps:
            lines.extend(_describe_step(step, redactor))
    if preview.more_waiting:
        lines.append("  … more events are waiting (see --limit)")
    return lines


def _describe_step(step: StepPreview, redactor: Redactor) -> list[str]:
    via = f" via {step.connection}" if step.connection else ""
    lines = [f"    {step.path} {step.type}{via}: {step.outcome}"]
    if step.note:
        lines.append(f"      note: {redactor.text(step.note)}")
    if step.params is not None:
        lines.append(indented(pretty_json(redactor.value(step.params)), "      "))
    return lines


def _compact(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)
