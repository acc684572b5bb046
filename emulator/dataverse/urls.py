"""Resource paths after ``/api/data/v9.2/``: segments, keys and entity references.

``accounts(00000000-…)/primarycontactid/$ref`` becomes three :class:`Segment` s; a key is a
GUID or ``name='value',other=2`` (quotes doubled inside strings, numbers and GUIDs bare).
Slashes and commas inside quoted key values do not split anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from emulator.dataverse import errors

_GUID = re.compile(r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12})\}?$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_SEGMENT = re.compile(r"^([^()]+)(?:\((.*)\))?$", re.S)
_SERVICE_ROOT = re.compile(r"^(?:https?://[^/]+)?/?api/data/v\d+\.\d+/", re.I)

KeyValue = str | int | float | bool | None


@dataclass(frozen=True)
class Segment:
    name: str
    key: str | None = None  # the text between the parentheses, if any


@dataclass(frozen=True)
class Key:
    """A primary key (``record_id``) or alternate-key values by attribute name."""

    record_id: str | None = None
    values: dict[str, KeyValue] | None = None


def as_guid(text: str) -> str | None:
    """The GUID in ``text`` (braces allowed), lower-cased; None if it is not one."""
    match = _GUID.match(text.strip())
    return match.group(1).lower() if match else None


def split_outside_quotes(text: str, separator: str) -> list[str]:
    parts, current, depth, quoted = [], [], 0, False
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == separator and not quoted and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def split_path(path: str) -> list[Segment]:
    segments = []
    for raw in split_outside_quotes(path, "/"):
        match = _SEGMENT.match(raw)
        if not match:
            raise errors.unknown_segment(raw)
        segments.append(Segment(match.group(1), match.group(2)))
    return segments


def parse_key(text: str) -> Key:
    guid = as_guid(text)
    if guid:
        return Key(record_id=guid)
    values: dict[str, KeyValue] = {}
    for part in split_outside_quotes(text, ","):
        name, sep, literal = part.partition("=")
        if not sep or not name.strip():
            raise errors.bad_query(f"Bad Request - Error in query syntax: key '{text}'.")
        values[name.strip()] = parse_literal(literal.strip())
    return Key(values=values)


def parse_literal(text: str) -> KeyValue:
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    guid = as_guid(text)
    if guid:
        return guid
    if _NUMBER.match(text):
        return float(text) if "." in text else int(text)
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    raise errors.bad_query(f"Bad Request - Error in query syntax: literal '{text}'.")


def parse_reference(url: str) -> Segment:
    """``/accounts(<id>)``, ``accounts(<id>)`` or an absolute Web API URL -> one keyed segment."""
    path = _SERVICE_ROOT.sub("", url.strip()).lstrip("/")
    segments = split_path(path)
    if len(segments) != 1 or segments[0].key is None:
        raise errors.bad_query(f"The reference '{url}' is not a single entity URL.")
    return segments[0]
