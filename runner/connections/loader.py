"""Read `connections.yaml` and report every problem in it at once.

Two rounds, as Home Assistant validates automations: first the envelope (top-level keys,
connection names, each connection's `type`), then each connection against its type's model plus
the cross-field rules. A broken connection does not hide the problems of the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel, ValidationError

from connectors.catalog import default_registry
from runner.config.problems import ConfigError, Problem, sort_problems, suggestion
from runner.config.pydantic_problems import problems_from_validation_error
from runner.config.secrets import literal_secret_problems, resolve_references, secret_fields
from runner.config.yaml_source import YamlSource, load_yaml
from runner.connections.fields import CONNECTION_NAME_PATTERN, NonEmptyStr
from runner.connections.models import (
    CONNECTION_MODELS,
    RULES_REPORTED,
    ConnectionsFile,
    OAuthProfile,
)
from runner.connections.rules import (
    RuleViolation,
    dynamics_rule_violations,
    http_rule_violations,
)

log = structlog.get_logger(__name__)
SECTIONS = ("connections", "oauth_profiles")
EXTENSION_PREFIX = "x-"  # top-level `x-…` keys are free, e.g. to hold YAML anchors (as in Compose)


class _Envelope(BaseModel, extra="forbid"):
    connections: dict[str, dict[str, Any]]  # names are checked by `_check_names`
    oauth_profiles: dict[NonEmptyStr, dict[str, Any]] = {}


@dataclass
class ConnectionsCheck:
    """The outcome of checking a connections file: the typed file when it has no errors, and every
    problem (errors and warnings) in file order."""

    file: ConnectionsFile | None
    problems: list[Problem]
    types: dict[str, str] = field(default_factory=dict)  # connection name -> its known type

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]


@dataclass
class _Run:
    """One check in progress: where the file is, what it has, what was found so far."""

    source: YamlSource
    base_dir: Path
    environ: Mapping[str, str] | None
    today: date
    secrets_required: bool = True
    profiles_raw: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)


def load_connections(
    path: Path | str,
    *,
    display_name: str | None = None,
    environ: Mapping[str, str] | None = None,
    today: date | None = None,
) -> ConnectionsFile:
    """The typed connections file; raises `ConfigError` with all problems if any is an error.

    Warnings (literal secrets, ignored fields, a secret about to expire) are logged as
    `config.warning`. `environ` replaces `os.environ` for `${env:…}`; `today` is for tests.
    """
    check = check_connections(path, display_name=display_name, environ=environ, today=today)
    if check.file is None:
        raise ConfigError(check.problems)
    for problem in check.problems:
        log.warning("config.warning", problem=str(problem))
    return check.file


def check_connections(
    path: Path | str,
    *,
    display_name: str | None = None,
    environ: Mapping[str, str] | None = None,
    today: date | None = None,
    secrets_required: bool = True,
) -> ConnectionsCheck:
    """Check a connections file without raising; `display_name` is the file name problems show.

    `secrets_required=False` checks a file where its secrets are not available (`validate`
    in CI): a reference that does not resolve is a warning and its field is not checked
    further; the typed file is then left out (its secrets are missing), the types are not.
    """
    path = Path(path)
    source = load_yaml(path, display_name or str(path))
    run = _Run(source, path.parent, environ, today or date.today(), secrets_required)
    run.problems.extend(source.problems)
    if source.data is None and source.problems:  # unreadable or not YAML: nothing to walk
        return ConnectionsCheck(None, sort_problems(run.problems))
    data = _check_envelope(run)
    file = _check_sections(run, data) if data is not None else None
    problems = sort_problems(run.problems)
    return ConnectionsCheck(file if not _has_errors(run) else None, problems, run.types)


def _has_errors(run: _Run) -> bool:
    return any(p.is_error for p in run.problems)


def _check_envelope(run: _Run) -> dict[str, Any] | None:
    data = run.source.data
    if not isinstance(data, Mapping):
        message = "the file must be a mapping with a 'connections:' section"
        run.problems.append(run.source.problem((), message))
        return None
    data = {
        k: ({} if v is None and k in SECTIONS else v)
        for k, v in data.items()
        if not (isinstance(k, str) and k.startswith(EXTENSION_PREFIX))
    }
    try:
        _Envelope.model_validate(data)
    except ValidationError as exc:
        run.problems += problems_from_validation_error(
            exc, run.source, (), data=data, model=ConnectionsFile
        )
    return data


def _mappings(section: Any) -> dict[str, Mapping[str, Any]]:
    if not isinstance(section, Mapping):
        return {}
    return {k: v for k, v in section.items() if isinstance(v, Mapping)}


def _check_sections(run: _Run, data: Mapping[str, Any]) -> ConnectionsFile | None:
    run.profiles_raw = _mappings(data.get("oauth_profiles"))
    profiles = {
        name: _check_entry(run, ("oauth_profiles", name), raw, OAuthProfile, None)
        for name, raw in run.profiles_raw.items()
    }
    raw_connections = _mappings(data.get("connections"))
    _check_names(run, raw_connections)
    connections = {
        name: _check_connection(run, name, raw) for name, raw in raw_connections.items()
    }
    if _has_errors(run) or any(entry is None for entry in (*connections.values(),
                                                           *profiles.values())):
        return None  # an entry left unchecked (a secret not available here) is not typed
    return ConnectionsFile.model_validate(
        {"connections": connections, "oauth_profiles": profiles}
    )


def _check_names(run: _Run, connections: Mapping[Any, Any]) -> None:
    for name in connections:
        if not (isinstance(name, str) and re.fullmatch(CONNECTION_NAME_PATTERN, name)):
            message = f"connection name {name!r} may only contain a-z, 0-9, '_' and '-'"
            run.problems.append(run.source.problem(("connections", name), message, at="key"))


def _check_connection(run: _Run, name: str, raw: Mapping[str, Any]) -> BaseModel | None:
    prefix = ("connections", name)
    type_name = raw.get("type")
    models = connection_models()
    model = models.get(type_name) if isinstance(type_name, str) else None
    if "type" not in raw or type_name is None:
        run.problems.append(run.source.problem((*prefix, "type"), "field required", at="parent"))
    elif model is None:
        choices = ", ".join(models)
        message = f"unknown connection type {type_name!r}, expected one of {choices}"
        message += suggestion(str(type_name), models)
        run.problems.append(run.source.problem((*prefix, "type"), message))
    if model is None:
        return None
    run.types[name] = str(type_name)
    return _check_entry(run, prefix, raw, model, str(type_name))


def connection_models() -> dict[str, type[BaseModel]]:
    """The model of every connection type: recipe-runner's own, then those installed
    connectors bring (``ConnectionTypeSpec.settings``)."""
    models = dict(CONNECTION_MODELS)
    for key, spec in default_registry().connection_types.items():
        if spec.settings is not None:
            models.setdefault(key, spec.settings)
    return models


def _check_entry(
    run: _Run,
    prefix: tuple[str, ...],
    raw: Mapping[str, Any],
    model: type[BaseModel],
    context: str | None,
) -> Any:
    """Resolve references, validate against `model`, apply the rules; the model or None."""
    source = run.source
    resolved = resolve_references(
        raw, source, prefix, base_dir=run.base_dir, environ=run.environ, context=context,
        missing_is_error=run.secrets_required,
    )
    run.problems += resolved.problems
    run.problems += literal_secret_problems(raw, secret_fields(model), source, prefix, context)
    validated, error = _validate(model, resolved.data, run.base_dir)
    if error is not None:  # converted outside the except block: no chained pydantic error
        run.problems += problems_from_validation_error(
            error, source, prefix, data=resolved.data, model=model, context=context,
            skip=resolved.unresolved,
        )
    for violation in _rule_violations(run, context, resolved.data):
        path = (*prefix, violation.field)
        if path not in resolved.unresolved:
            run.problems.append(source.problem(
                path, violation.message, at=violation.at, context=context,
                severity=violation.severity,
            ))
    return validated


def _validate(
    model: type[BaseModel], data: Any, base_dir: Path
) -> tuple[BaseModel | None, ValidationError | None]:
    try:
        context = {"base_dir": base_dir, RULES_REPORTED: True}
        return model.model_validate(data, context=context), None
    except ValidationError as exc:
        return None, exc


def _rule_violations(
    run: _Run, context: str | None, data: Mapping[str, Any]
) -> list[RuleViolation]:
    if context in ("dynamics365", "dynamics_fo"):
        return dynamics_rule_violations(data, run.profiles_raw, run.today)
    if context == "http":
        return http_rule_violations(data)
    return []
