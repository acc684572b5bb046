"""Secret references: `${env:NAME}`, `${file:/path}` and `${credential:NAME}` (a systemd
credential: the file NAME in `$CREDENTIALS_DIRECTORY`, which `LoadCredential=NAME:/path` fills)
in any string value of a config file.

References are resolved before typed validation, so a field typed `SecretStr` receives the secret
and a plain field (tenant_id, client_id) receives the text. A missing variable or unreadable file
is a problem naming the variable or path, never a value. A secret written literally in the file
is accepted with a warning: config files end up in backups and repositories.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, SecretStr

from runner.config.files import MAX_SECRET_BYTES, UnreadableFile, read_regular_text
from runner.config.problems import FieldPath, Problem, Severity
from runner.config.yaml_source import YamlSource

MAX_REFERENCE_CHARS = 8192
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
REFERENCE = re.compile(r"^\$\{(?P<kind>env|file|credential):(?P<target>[^}]+)\}$")
CREDENTIAL_NAME = re.compile(r"^[A-Za-z0-9_.@-]+$")  # systemd's credential ids, no path
LITERAL_SECRET_HINT = "secret written in the file; prefer ${env:NAME} or ${file:/path}"


class SecretReferenceError(Exception):
    """A reference that cannot be resolved; the message names the variable or path only."""


class UnusableReferenceValue(SecretReferenceError):
    """The reference resolves, but to something no field can take (an error even where
    secrets are not required: the file or variable is there, and wrong)."""


@dataclass
class ResolvedData:
    """Data with references replaced, plus the paths that could not be resolved."""

    data: Any
    unresolved: set[FieldPath] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)


def is_reference(value: object) -> bool:
    """True for a string of the exact form `${env:NAME}`, `${file:/path}` or
    `${credential:NAME}`."""
    return isinstance(value, str) and REFERENCE.match(value) is not None


# Fields whose value is a document of several lines (PEM certificates and keys): their
# references may hold line breaks (no other control characters), up to a secret file's size.
MULTILINE_FIELDS = frozenset({"client_certificate", "client_certificate_key"})
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def resolve_reference(
    text: str, *, base_dir: Path, environ: Mapping[str, str] | None = None,
    multiline: bool = False,
) -> str:
    """The value `text` refers to; a relative file path is read relative to `base_dir`.

    Raises `SecretReferenceError`. A file's trailing newline is dropped (editors add one).
    A value must be one line of text (no control characters, at most `MAX_REFERENCE_CHARS`):
    every field takes one value, and a reference pointed at the wrong file (``/etc/shadow``)
    must not carry that file into a URL, a header or an error message.
    """
    value = _referenced_value(text, base_dir, environ)
    if multiline:
        if _CONTROL_BUT_LINES.search(value):
            raise UnusableReferenceValue(f"{text} holds control characters; point it at the "
                                         "PEM file")
        return value
    if len(value) > MAX_REFERENCE_CHARS or _CONTROL.search(value):
        where = "file" if text.startswith("${file:") else "variable"
        raise UnusableReferenceValue(
            f"{text} does not hold one line of text (line breaks, control characters or "
            f"more than {MAX_REFERENCE_CHARS} characters); point it at the right {where}")
    return value


def _referenced_value(text: str, base_dir: Path, environ: Mapping[str, str] | None) -> str:
    match = REFERENCE.match(text)
    if match is None:
        return text
    kind, target = match["kind"], match["target"].strip()
    if kind == "credential":
        return _credential(target, os.environ if environ is None else environ)
    if kind == "env":
        env = os.environ if environ is None else environ
        if target not in env:
            raise SecretReferenceError(f"environment variable {target!r} is not set")
        return env[target]
    path = Path(target).expanduser()
    path = path if path.is_absolute() else base_dir / path
    try:
        return read_regular_text(path, MAX_SECRET_BYTES).rstrip("\r\n")
    except UnreadableFile as exc:
        # The path as written: what the user can find in the file.
        raise SecretReferenceError(f"cannot read secret file '{target}': {exc}") from None


def _credential(name: str, environ: Mapping[str, str]) -> str:
    """The systemd credential ``name`` (``LoadCredential=name:/path`` in the unit)."""
    if not CREDENTIAL_NAME.match(name) or name in (".", ".."):
        raise SecretReferenceError(f"credential {name!r}: a credential name has no '/'")
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        raise SecretReferenceError(
            f"credential {name!r}: $CREDENTIALS_DIRECTORY is not set (run under systemd with "
            f"LoadCredential={name}:/path/to/file, or refer to a file with ${{file:…}})")
    path = Path(directory) / name
    if not path.exists():
        raise SecretReferenceError(
            f"credential {name!r} is not loaded: add LoadCredential={name}:/path/to/file to the "
            f"unit (systemctl edit recipe-runner)")
    try:
        return read_regular_text(path, MAX_SECRET_BYTES).rstrip("\r\n")
    except UnreadableFile as exc:
        raise SecretReferenceError(f"cannot read credential {name!r}: {exc}") from None


def resolve_references(
    data: Any,
    source: YamlSource,
    prefix: FieldPath,
    *,
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
    context: str | None = None,
    missing_is_error: bool = True,
) -> ResolvedData:
    """A copy of `data` (found at `prefix` in `source`) with every reference resolved.

    An unresolved reference is left as written, its path is listed in `unresolved` (so later
    checks of that field can be skipped) and a problem is reported at its value: an error,
    or with `missing_is_error=False` (checking a file where its secrets are not available,
    e.g. in CI) a warning.
    """
    result = ResolvedData(data=None)
    severity: Severity = "error" if missing_is_error else "warning"
    result.data = _resolve(data, prefix, source, base_dir, environ, context, result, severity)
    return result


def _resolve(
    value: Any,
    path: FieldPath,
    source: YamlSource,
    base_dir: Path,
    environ: Mapping[str, str] | None,
    context: str | None,
    out: ResolvedData,
    severity: Severity,
) -> Any:
    if isinstance(value, Mapping):
        return {
            k: _resolve(v, (*path, k), source, base_dir, environ, context, out, severity)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _resolve(v, (*path, i), source, base_dir, environ, context, out, severity)
            for i, v in enumerate(value)
        ]
    if not is_reference(value):
        return value
    try:
        return resolve_reference(value, base_dir=base_dir, environ=environ,
                                 multiline=bool(path) and path[-1] in MULTILINE_FIELDS)
    except SecretReferenceError as exc:
        out.unresolved.add(path)
        if isinstance(exc, UnusableReferenceValue):
            severity = "error"
        message = str(exc) if severity == "error" else f"{exc} here; the daemon will need it"
        out.problems.append(source.problem(path, message, context=context, severity=severity))
        return value


def secret_fields(model: type[BaseModel]) -> frozenset[str]:
    """Names (as written in the file) of the model's fields typed `SecretStr` (or optional)."""
    return frozenset(
        info.alias or name
        for name, info in model.model_fields.items()
        if _mentions_secret(info.annotation)
    )


def _mentions_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_mentions_secret(arg) for arg in get_args(annotation))


def literal_secret_problems(
    data: Mapping[str, Any],
    secrets: Collection[str],
    source: YamlSource,
    prefix: FieldPath,
    context: str | None = None,
) -> list[Problem]:
    """A warning for each secret field whose value is written literally rather than referenced."""
    return [
        source.problem((*prefix, name), LITERAL_SECRET_HINT, context=context, severity="warning")
        for name in _literal_secret_names(data, secrets)
    ]


def _literal_secret_names(data: Mapping[str, Any], secrets: Collection[str]) -> Iterator[str]:
    for name, value in data.items():
        if name in secrets and isinstance(value, str) and value and not is_reference(value):
            yield name
