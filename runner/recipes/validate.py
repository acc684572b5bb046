"""Turning a recipe's YAML into a :class:`Recipe`, collecting every problem on the way.

Round one checks the envelope (name, trigger, steps' ``id``/``type``/``if``/``retry``/
``on_error``); round two checks each trigger's and action's own params against its
pydantic model. Values that are templates are only checked for syntax here (their type is
known once rendered, at run time).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ValidationError

from connectors.base import ActionSpec, Registry, TriggerSpec
from runner.config import (
    FieldPath,
    Problem,
    YamlSource,
    format_path,
    problems_from_validation_error,
    suggestion,
)
from runner.idempotency import repeat_warning
from runner.recipes.conditions import CONTEXT_NAMES, condition_template, unknown_names_message
from runner.recipes.envelope import (
    STEP_KEYS,
    ForEachParams,
    RecipeEnvelope,
    RetryModel,
    StepEnvelope,
    StopParams,
    TriggerEnvelope,
)
from runner.recipes.lint import lint_params
from runner.recipes.loops import loop_warning
from runner.recipes.model import (
    ActionStep,
    ForEachStep,
    Recipe,
    RetryPolicy,
    Step,
    StopStep,
    TriggerConfig,
)
from runner.templates import check_syntax, has_template, undeclared_names

CONTROL_TYPES = ("for_each", "stop")
TEMPLATE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")  # a step id reachable as steps.<id>
TRIGGER_KEYS = frozenset({"type", "connection", "poll_interval", "batch_size", "batch_wait",
                          "shared"})


class RecipeBuilder:
    """Builds one recipe from a parsed file; ``problems`` holds everything found wrong."""

    def __init__(
        self,
        source: YamlSource,
        registry: Registry,
        connections: Mapping[str, str] | None = None,  # name -> connection type
    ) -> None:
        self.source = source
        self.registry = registry
        self.connections = connections
        self.problems: list[Problem] = list(source.problems)
        self._step_ids: dict[str, str] = {}
        self._trigger_config: TriggerConfig | None = None
        # What templates may read; empty: unknown (checking would only repeat another error).
        self._names: tuple[str, ...] = (*CONTEXT_NAMES, "now")

    def build(self, text: str = "") -> Recipe | None:
        data = self.source.data
        if self.problems:
            return None
        if not isinstance(data, dict):
            self.problems.append(
                self.source.problem((), "a recipe is a mapping (name, trigger, actions)")
            )
            return None
        envelope = self._validate(RecipeEnvelope, data, (), context=None)
        trigger = (
            self._trigger(data.get("trigger")) if isinstance(data.get("trigger"), dict) else None
        )
        self._trigger_config = trigger  # steps that write to its table are warned about
        steps = (
            self._steps(data.get("actions"), ("actions",))
            if isinstance(data.get("actions"), list)
            else ()
        )
        if envelope is None or trigger is None or self.has_errors:
            return None
        assert isinstance(envelope, RecipeEnvelope)
        return Recipe(
            name=envelope.name,
            file=self.source.file,
            description=envelope.description,
            enabled=envelope.enabled,
            trigger=trigger,
            steps=steps,
            concurrency=envelope.concurrency,
            max_pending=envelope.max_pending,
            variables=envelope.variables,
            fingerprint=hashlib.sha256(text.encode()).hexdigest()[:16],
        )

    @property
    def has_errors(self) -> bool:
        return any(p.is_error for p in self.problems)

    # -- helpers -------------------------------------------------------------------------

    def _where(self, path: FieldPath) -> str:
        pos = self.source.position(path)
        return f"{self.source.file}:{pos.line}:{pos.column}" if pos else self.source.file

    def _problem(
        self, path: FieldPath, message: str, *, at: str = "value", context: str | None = None
    ) -> None:
        self.problems.append(self.source.problem(path, message, at=at, context=context))  # type: ignore[arg-type]

    def _validate(
        self, model: type[BaseModel], data: Any, path: FieldPath, context: str | None
    ) -> BaseModel | None:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            self.problems.extend(
                problems_from_validation_error(
                    exc, self.source, path, data=data, model=model, context=context
                )
            )
            return None

    def _check_templates(self, value: Any, path: FieldPath) -> None:
        if isinstance(value, str) and has_template(value):
            error = check_syntax(value)
            if error:
                self._problem(path, f"template syntax error: {error}")
            elif self._names and (unknown := undeclared_names(value) - set(self._names)):
                self._problem(path, unknown_names_message(unknown, self._names))
        elif isinstance(value, dict):
            for key, item in value.items():
                self._check_templates(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._check_templates(item, (*path, index))

    def _params(
        self,
        model: type[BaseModel],
        params: dict[str, Any],
        path: FieldPath,
        context: str,
        envelope_keys: frozenset[str] = STEP_KEYS,
    ) -> None:
        """Round two: check params against the connector's model, leaving templated values
        for later (their type is known once rendered) but never their keys."""
        self._check_templates(params, path)
        known = _field_names(model)
        templated = {k for k, v in params.items()
                     if isinstance(v, str) and has_template(v) and k in known}
        concrete = {k: v for k, v in params.items() if k not in templated}
        try:
            model.model_validate(concrete)
        except ValidationError as exc:
            found = problems_from_validation_error(
                exc, self.source, path, data=concrete, model=model, context=context
            )
            for problem in found:
                if templated and (
                    len(problem.path) == len(path) or problem.path[len(path)] in templated
                ):
                    continue  # a consequence of leaving a template out; checked when rendered
                self.problems.append(_suggest_envelope_key(problem, path, envelope_keys))
        self.problems.extend(lint_params(self.source, model, params, path, context,
                                         trigger=envelope_keys is TRIGGER_KEYS))

    def _connection(
        self, name: str | None, spec: ActionSpec | TriggerSpec, path: FieldPath
    ) -> None:
        if not spec.connection_types:
            if name is not None:
                self._problem((*path, "connection"), f"{spec.key} takes no connection", at="key")
            return
        if name is None:
            if "http" not in spec.connection_types:  # http.request may run without one
                self._problem(
                    (*path, "connection"), "field required", at="parent", context=spec.key
                )
            return
        if self.connections is None:
            return
        if name not in self.connections:
            self._problem(
                (*path, "connection"),
                f"unknown connection {name!r}" + suggestion(name, self.connections),
                context=spec.key,
            )
        elif self.connections[name] not in spec.connection_types:
            wanted = " or ".join(spec.connection_types)
            self._problem(
                (*path, "connection"),
                f"connection {name!r} is of type {self.connections[name]!r}, "
                f"{spec.key} needs {wanted}",
                context=spec.key,
            )

    # -- trigger -------------------------------------------------------------------------

    def _trigger(self, data: dict[str, Any]) -> TriggerConfig | None:
        path: FieldPath = ("trigger",)
        envelope = self._validate(TriggerEnvelope, data, path, None) if "type" in data else None
        kind = data.get("type")
        if not isinstance(kind, str):
            return None
        spec = self.registry.triggers.get(kind)
        if spec is None:
            self._problem(
                (*path, "type"),
                f"unknown trigger type {kind!r}" + suggestion(kind, self.registry.triggers),
            )
            return None
        params = {k: v for k, v in data.items() if k not in TRIGGER_KEYS}
        self._params(spec.params, params, path, kind, TRIGGER_KEYS)
        self._connection(data.get("connection"), spec, path)
        if envelope is None:
            return None
        return TriggerConfig(
            type=kind,
            connection=data.get("connection"),
            params=params,
            poll_interval_s=self._poll_interval(spec, params, data, envelope),
            where=self._where(path),
            batch_size=envelope.batch_size,  # type: ignore[attr-defined]
            batch_wait_s=envelope.batch_wait,  # type: ignore[attr-defined]
            shared=envelope.shared,  # type: ignore[attr-defined]
        )

    def _poll_interval(self, spec: TriggerSpec, params: dict[str, Any], data: dict[str, Any],
                       envelope: BaseModel) -> float:
        """The recipe's ``poll_interval``, else the trigger's own cadence, else the default;
        a warning when the given one is slower than the trigger's cadence."""
        given: float = envelope.poll_interval  # type: ignore[attr-defined]
        cadence = _cadence(spec, params)
        if cadence is None:
            return given
        if "poll_interval" not in data:
            return cadence
        if given > cadence:
            self.problems.append(self.source.problem(
                ("trigger", "poll_interval"), f"polled every {given:g}s, so {spec.key} fires "
                f"at most that often, not every {cadence:g}s; remove poll_interval",
                severity="warning"))
        return given

    # -- steps ---------------------------------------------------------------------------

    def _steps(self, items: list[Any], path: FieldPath) -> tuple[Step, ...]:
        steps = []
        for index, item in enumerate(items):
            step = self._step(item, (*path, index))
            if step is not None:
                steps.append(step)
        return tuple(steps)

    def _step(self, data: Any, path: FieldPath) -> Step | None:
        if not isinstance(data, dict):
            self._problem(path, "a step is a mapping with a type")
            return None
        envelope = self._validate(StepEnvelope, data, path, None)
        kind = data.get("type")
        if envelope is None or not isinstance(kind, str):
            return None
        assert isinstance(envelope, StepEnvelope)
        self._register_id(envelope.id, path)
        condition, wrong = condition_template(envelope.condition)
        if wrong:
            self._problem((*path, "if"), wrong)
        self._check_templates(condition, (*path, "if"))
        params = {k: v for k, v in data.items() if k not in STEP_KEYS}
        common = {
            "path": format_path(path),
            "where": self._where(path),
            "id": envelope.id,
            "type": kind,
            "condition": condition,
        }
        if kind == "for_each":
            return self._for_each(params, path, common, envelope)
        if kind == "stop":
            self._check_templates(params.get("message"), (*path, "message"))
            model = self._validate(StopParams, params, path, "stop")
            return (
                StopStep(**common, **model.model_dump()) if isinstance(model, StopParams) else None
            )
        return self._action(kind, params, path, common, envelope)

    def _scoped(self, names: tuple[str, ...] | None, items: list[Any],
                path: FieldPath) -> tuple[Step, ...]:
        """Steps that may read ``names`` too (a loop's item, an error handler's ``error``);
        None: names unknown (the loop's ``as`` is wrong), so none are checked."""
        outer = self._names
        self._names = (*outer, *names) if outer and names is not None else ()
        try:
            return self._steps(items, path)
        finally:
            self._names = outer

    def _register_id(self, step_id: str | None, path: FieldPath) -> None:
        if step_id is None:
            return
        if not TEMPLATE_NAME.match(step_id):
            # `{{ steps.my-step.id }}` reads as `steps.my - step.id`: such an id could only
            # be reached as steps['my-step'], so it is refused here rather than at run time.
            better = re.sub(r"^(?=[0-9])", "step_", step_id.replace("-", "_"))
            self._problem((*path, "id"), f"step id {step_id!r} cannot be used in a template "
                          f"(steps.{step_id} is not a name there); use letters, digits and "
                          f"'_', starting with a letter (did you mean {better!r}?)")
        if step_id in self._step_ids:
            self._problem(
                (*path, "id"), f"step id {step_id!r} is already used at {self._step_ids[step_id]}"
            )
        else:
            self._step_ids[step_id] = format_path(path)

    def _on_error(self, envelope: StepEnvelope, path: FieldPath) -> Any:
        if isinstance(envelope.on_error, list):
            return self._scoped(("error",), envelope.on_error, (*path, "on_error"))
        return envelope.on_error

    def _action(
        self,
        kind: str,
        params: dict[str, Any],
        path: FieldPath,
        common: dict[str, Any],
        envelope: StepEnvelope,
    ) -> Step | None:
        spec = self.registry.actions.get(kind)
        if spec is None:
            choices = [*self.registry.actions, *CONTROL_TYPES]
            self._problem(
                (*path, "type"), f"unknown action type {kind!r}" + suggestion(kind, choices)
            )
            return None
        self._params(spec.params, params, path, kind)
        self._connection(envelope.connection, spec, path)
        if note := repeat_warning(spec):
            self.problems.append(self.source.problem((*path, "type"), note,
                                                     severity="warning"))
        if note := loop_warning(self._trigger_config, kind, params, envelope.connection,
                                common["condition"]):
            self.problems.append(self.source.problem((*path, "table"), note,
                                                     severity="warning"))
        retry = envelope.retry or RetryModel()
        return ActionStep(
            **common,
            connection=envelope.connection,
            params=params,
            retry=RetryPolicy(retry.attempts, retry.backoff, retry.delay, retry.max_delay),
            on_error=self._on_error(envelope, path),
        )

    def _for_each(
        self,
        params: dict[str, Any],
        path: FieldPath,
        common: dict[str, Any],
        envelope: StepEnvelope,
    ) -> Step | None:
        model = self._validate(ForEachParams, params, path, "for_each")
        nested = params.get("actions")
        item = (model.item_name,) if isinstance(model, ForEachParams) else None
        steps = self._scoped(item, nested, (*path, "actions")) \
            if isinstance(nested, list) else ()
        self._check_templates(params.get("items"), (*path, "items"))
        if not isinstance(model, ForEachParams):
            return None
        return ForEachStep(
            **common,
            items=model.items,
            item_name=model.item_name,
            steps=steps,
            on_error=self._on_error(envelope, path),
        )


def _suggest_envelope_key(problem: Problem, path: FieldPath, keys: frozenset[str]) -> Problem:
    """An unknown param key may be a misspelt envelope key (``retyr`` for ``retry``)."""
    if len(problem.path) != len(path) + 1 or not problem.message.startswith("unknown key"):
        return problem
    if "did you mean" in problem.message:
        return problem
    hint = suggestion(str(problem.path[-1]), sorted(keys))
    return replace(problem, message=problem.message + hint) if hint else problem


def _cadence(spec: TriggerSpec, params: dict[str, Any]) -> float | None:
    if spec.cadence_s is None:
        return None
    try:
        return spec.cadence_s(spec.params.model_validate(params))
    except ValidationError:
        return None  # reported by round two


def _field_names(model: type[BaseModel]) -> set[str]:
    """The keys a params model takes: field names and their aliases."""
    names = set(model.model_fields)
    names.update(f.alias for f in model.model_fields.values() if f.alias)
    return names
