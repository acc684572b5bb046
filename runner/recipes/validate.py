"""Turning a recipe's YAML into a :class:`Recipe`, collecting every problem on the way.

Round one checks the envelope (name, trigger, steps' ``id``/``type``/``if``/``retry``/
``on_error``); round two checks each trigger's and action's own params against its
pydantic model. Values that are templates are only checked for syntax here (their type is
known once rendered, at run time).
"""

from __future__ import annotations

import hashlib
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
from runner.recipes.model import (
    ActionStep,
    ForEachStep,
    Recipe,
    RetryPolicy,
    Step,
    StopStep,
    TriggerConfig,
)
from runner.templates import check_syntax, has_template

CONTROL_TYPES = ("for_each", "stop")
TRIGGER_KEYS = frozenset({"type", "connection", "poll_interval"})


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
        """Round two: check params against the connector's model, leaving templates for later."""
        self._check_templates(params, path)
        templated = {k for k, v in params.items() if isinstance(v, str) and has_template(v)}
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
            poll_interval_s=envelope.poll_interval,  # type: ignore[attr-defined]
            where=self._where(path),
        )

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
        self._check_templates(data.get("if"), (*path, "if"))
        params = {k: v for k, v in data.items() if k not in STEP_KEYS}
        common = {
            "path": format_path(path),
            "where": self._where(path),
            "id": envelope.id,
            "type": kind,
            "condition": _condition(envelope.condition),
        }
        if kind == "for_each":
            return self._for_each(params, path, common, envelope)
        if kind == "stop":
            model = self._validate(StopParams, params, path, "stop")
            return (
                StopStep(**common, **model.model_dump()) if isinstance(model, StopParams) else None
            )
        return self._action(kind, params, path, common, envelope)

    def _register_id(self, step_id: str | None, path: FieldPath) -> None:
        if step_id is None:
            return
        if step_id in self._step_ids:
            self._problem(
                (*path, "id"), f"step id {step_id!r} is already used at {self._step_ids[step_id]}"
            )
        else:
            self._step_ids[step_id] = format_path(path)

    def _on_error(self, envelope: StepEnvelope, path: FieldPath) -> Any:
        if isinstance(envelope.on_error, list):
            return self._steps(envelope.on_error, (*path, "on_error"))
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
        steps = self._steps(nested, (*path, "actions")) if isinstance(nested, list) else ()
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


def _condition(value: str | bool | None) -> str | None:
    if value is None or value is True:
        return None
    return "{{ false }}" if value is False else value
