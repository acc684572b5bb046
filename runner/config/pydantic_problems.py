"""Turn a pydantic `ValidationError` into positioned, human `Problem`s.

Where each kind of mistake points: a missing field at its parent mapping's key (where it must be
added), an unknown key at the key itself (with the closest allowed key suggested), a bad value at
the value. Input values are echoed only for choices (`must be 'cloud' or 'on_premise', not
'onprem'`) and names, never for free text, so a secret cannot leak through a message.
"""

from __future__ import annotations

import re
import types
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from runner.config.problems import FieldPath, Problem, suggestion
from runner.config.secrets import is_reference
from runner.config.yaml_source import Anchor, YamlSource

KEY_MARKER = "[key]"  # pydantic's last loc segment when a mapping *key* is invalid

_SHORT_MESSAGES = {
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
    "date_type": "must be a date such as 2027-05-01",
    "date_parsing": "must be a date such as 2027-05-01",
    "date_from_datetime_parsing": "must be a date such as 2027-05-01",
    "date_from_datetime_inexact": "must be a date such as 2027-05-01",
    "missing": "field required",
}


def problems_from_validation_error(
    error: ValidationError,
    source: YamlSource,
    prefix: FieldPath,
    *,
    data: Any,
    model: type[BaseModel] | None = None,
    context: str | None = None,
    skip: Collection[FieldPath] = (),
) -> list[Problem]:
    """Problems for `error`, raised validating `data` (found at `prefix` in `source`) as `model`.

    `model` lets an unknown key suggest the closest allowed one. Errors at a path in `skip`
    (e.g. a secret reference that could not be resolved, already reported) are dropped.
    """
    problems = []
    for details in error.errors(include_url=False):
        rel_path, is_key = _data_path(details["loc"], data)
        path = (*prefix, *rel_path)
        if any(path[: len(s)] == s for s in skip):
            continue
        message, anchor = _describe(details, rel_path, is_key, data, model)
        reference = _value_at(source.data, path)
        if anchor == "value" and is_reference(reference):
            message = _without_value(message, details, str(reference))
        problems.append(source.problem(path, message, at=anchor, context=context))
    return problems


def _without_value(message: str, details: ErrorDetails, reference: str) -> str:
    """The message about a value read through `${file:}`/`${env:}`, naming the reference and
    never echoing what it holds (a file such as /etc/shadow must not end up in a log)."""
    value = details.get("input")
    general = message.split(": ", 1)[0].split(" (", 1)[0]
    echoes = "'" in general or '"' in general or (
        isinstance(value, str) and any(part in general for part in _parts(value)))
    return f"the value of {reference} " + ("is not valid here" if echoes else general)


def _parts(value: str) -> list[str]:
    """Pieces of `value` long enough that seeing one in a message means it echoes."""
    return [piece for piece in re.split(r"[\s:/@]+", value) if len(piece) >= 4] or [value]


def _data_path(loc: tuple[int | str, ...], data: Any) -> tuple[FieldPath, bool]:
    """The loc as a path into `data`, minus union-member labels pydantic inserts; and whether the
    error is about a mapping key."""
    path: list[str | int] = []
    current = data
    for index, segment in enumerate(loc):
        if segment == KEY_MARKER:
            return tuple(path), True
        is_last = index == len(loc) - 1
        if _has_child(current, segment):
            current = current[segment]
        elif not is_last:
            continue  # a label such as 'function-after[...]' or a union tag: not in the data
        path.append(segment)
    return tuple(path), False


def _has_child(data: Any, segment: int | str) -> bool:
    if isinstance(data, Mapping):
        return segment in data
    return isinstance(data, list) and isinstance(segment, int) and 0 <= segment < len(data)


def _describe(
    details: ErrorDetails,
    path: FieldPath,
    is_key: bool,
    data: Any,
    model: type[BaseModel] | None,
) -> tuple[str, Anchor]:
    kind = details["type"]
    if is_key:
        return _key_message(details), "key"
    if kind == "missing":
        return "field required", "parent"
    if kind == "extra_forbidden":
        return _unknown_key_message(path, data, model), "key"
    if kind == "literal_error":
        return _choice_message(details), "value"
    if kind in ("value_error", "assertion_error"):
        return str(details.get("ctx", {}).get("error", details["msg"])), "value"
    return _SHORT_MESSAGES.get(kind) or _humanize(details["msg"]), "value"


def _key_message(details: ErrorDetails) -> str:
    name = details["input"]
    pattern = details.get("ctx", {}).get("pattern")
    if pattern:
        return f"name {name!r} must match {pattern}"
    return f"name {name!r}: {_humanize(details['msg'])}"


def _unknown_key_message(path: FieldPath, data: Any, model: type[BaseModel] | None) -> str:
    key = str(path[-1]) if path else "?"
    message = f"unknown key {_short(key)!r}"
    if model is None:
        return message
    parent = _value_at(data, path[:-1])
    present = set(parent) if isinstance(parent, Mapping) else set()
    allowed = allowed_keys(model, path[:-1]) - present
    return message + suggestion(key, sorted(allowed))


def _short(text: str, limit: int = 60) -> str:
    """A name as messages show it: a hostile 100 KB key must not become a 100 KB log line."""
    return text if len(text) <= limit else text[:limit] + "…"


def _choice_message(details: ErrorDetails) -> str:
    expected = str(details.get("ctx", {}).get("expected", ""))
    given = details["input"]
    if not isinstance(given, str):
        return f"must be {expected}"
    choices = re.findall(r"'([^']*)'", expected)
    return f"must be {expected}, not {given!r}" + suggestion(given, choices)


def _humanize(msg: str) -> str:
    msg = msg.replace("Input should be", "must be").replace("String should", "must")
    return msg[:1].lower() + msg[1:]


def _value_at(data: Any, path: FieldPath) -> Any:
    for segment in path:
        try:
            data = data[segment]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def allowed_keys(model: type[BaseModel], path: FieldPath = ()) -> set[str]:
    """Keys allowed in the mapping at `path` under `model` (field aliases where set)."""
    current: list[Any] = [model]
    for segment in path:
        current = [child for tp in current for child in _children(tp, segment)]
    keys: set[str] = set()
    for tp in current:
        for candidate in _unwrap(tp):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                keys |= {info.alias or name for name, info in candidate.model_fields.items()}
    return keys


def _unwrap(tp: Any) -> list[Any]:
    origin = get_origin(tp)
    if origin is Annotated:
        return _unwrap(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return [inner for arg in get_args(tp) for inner in _unwrap(arg)]
    return [tp]


def _children(tp: Any, segment: str | int) -> list[Any]:
    found = []
    for candidate in _unwrap(tp):
        origin = get_origin(candidate)
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            for name, info in candidate.model_fields.items():
                if segment in (name, info.alias):
                    found.append(info.annotation)
        elif origin in (dict, Mapping) and get_args(candidate):
            found.append(get_args(candidate)[1])
        elif origin in (list, tuple) and get_args(candidate):
            found.append(get_args(candidate)[0])
    return found
