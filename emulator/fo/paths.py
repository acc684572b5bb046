"""Resource paths after ``/data/``: segments and composite keys.

``CustomersV3(dataAreaId='usmf',CustomerAccount='US-001')/Microsoft.Dynamics.DataEntities.X``
is two :class:`Segment` s. F&O keys name every key field (reference §9); a single-field key
may also be written bare (``Set('x')``). Slashes and commas inside quotes split nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from emulator.dataverse.urls import split_outside_quotes
from emulator.fo import errors
from emulator.fo.entities import Entity
from emulator.fo.payload import Value

_SEGMENT = re.compile(r"^([^()]+)(?:\((.*)\))?$", re.S)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True)
class Segment:
    name: str
    key: str | None = None  # the text between the parentheses, if any


def split_path(path: str) -> list[Segment]:
    segments = []
    for raw in split_outside_quotes(path.strip("/"), "/"):
        match = _SEGMENT.match(raw)
        if not match:
            raise errors.not_found(raw)
        segments.append(Segment(match.group(1), match.group(2)))
    return segments


def parse_key(text: str, entity: Entity) -> dict[str, Value]:
    """Key field -> value; every key field, and nothing else, must be named."""
    parts = split_outside_quotes(text, ",")
    if len(parts) == 1 and "=" not in parts[0] and len(entity.key) == 1:
        return {entity.key[0]: parse_literal(parts[0].strip(), entity)}
    values: dict[str, Value] = {}
    for part in parts:
        name, sep, literal = part.partition("=")
        if not sep:
            raise _bad_key(entity)
        values[name.strip()] = parse_literal(literal.strip(), entity)
    if set(values) != set(entity.key):
        raise _bad_key(entity)
    return {name: values[name] for name in entity.key}


def parse_literal(text: str, entity: Entity) -> Value:
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if _NUMBER.match(text):
        return float(text) if "." in text else int(text)
    raise _bad_key(entity)


def _bad_key(entity: Entity) -> errors.FoError:
    return errors.bad_request(
        f"The key in the request URI is not valid for resource '{entity.edm_type}'. Ensure "
        "that the names and number of key properties match the declared key properties.")


def key_text(entity: Entity, row: dict[str, Value]) -> str:
    """``dataAreaId='usmf',CustomerAccount='US-001'``, URL-safe."""
    parts = []
    for name in entity.key:
        value = row[name]
        literal = "'" + str(value).replace("'", "''") + "'" if isinstance(value, str) else value
        parts.append(f"{name}={quote(str(literal), safe=chr(39))}")
    return ",".join(parts)
