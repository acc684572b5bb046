"""Escaping for everything a recipe puts into a Dataverse or F&O URL or ``$filter``.

A record's value can never change a query's structure: string literals double their quotes
and are percent-encoded by the HTTP layer, GUIDs and numbers are validated, datetimes are
written as unquoted OData v4 ``DateTimeOffset`` literals, names must be identifiers, and key
segments are encoded so ``/``, ``?``, ``#``, ``(`` … stay data. Each function raises
``ValueError`` on input it cannot make safe.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from urllib.parse import quote

__all__ = [
    "FILTER_TEMPLATE",
    "FO_FILTER_TEMPLATE",
    "TEMPLATE_VALUES",
    "ODataLiteral",
    "alternate_key",
    "compare",
    "datetime_literal",
    "guid",
    "identifier",
    "key_segment",
    "literal",
    "parse_datetime",
    "path_segment",
    "string_literal",
    "template_literal",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*")
_OPERATORS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
# Characters a key segment may keep verbatim; everything else is percent-encoded.
_SEGMENT_SAFE = "-._~!$&*+,;=:@'"


def string_literal(value: str) -> str:
    """``'O''Bryan'``: an OData string literal (quotes doubled); URL-encoding is the caller's."""
    return "'" + str(value).replace("'", "''") + "'"


def guid(value: object) -> str:
    """The canonical lower-case form of a GUID, with or without braces; ValueError otherwise."""
    text = str(value).strip().strip("{}")
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ValueError(f"{str(value)[:60]!r} is not a GUID") from None


def parse_datetime(value: str | datetime | date) -> datetime:
    """An aware UTC datetime from ISO 8601 text (``Z`` accepted) or a date/datetime."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def datetime_literal(value: str | datetime | date) -> str:
    """``2024-01-01T00:00:00Z``: an unquoted OData v4 DateTimeOffset literal, whole seconds."""
    return parse_datetime(value).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def identifier(name: str) -> str:
    """A column or navigation path (``name``, ``primarycontactid/fullname``), unchanged."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name[:60]!r} is not a column name")
    return name


def literal(value: object) -> str:
    """Any Python value as an OData literal: str quoted, bool, None, numbers, datetimes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and infinity have no OData literal")
        return repr(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return datetime_literal(value)
    return string_literal(str(value))


def compare(column: str, operator: str, value: object) -> str:
    """``column op literal``, e.g. ``compare("lastname", "eq", "O'Bryan")``."""
    if operator not in _OPERATORS:
        raise ValueError(f"{operator!r} is not one of {sorted(_OPERATORS)}")
    return f"{identifier(column)} {operator} {literal(value)}"


def path_segment(name: str) -> str:
    """An entity set, navigation property or operation name: an identifier, never a path."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name) or ".." in name:
        raise ValueError(f"{name[:60]!r} is not a valid URL segment name")
    return name


def key_segment(value: object) -> str:
    """``(<guid>)`` for a record id; ValueError for anything that is not a GUID."""
    return f"({guid(value)})"


def alternate_key(values: Mapping[str, object]) -> str:
    """``(accountnumber='A''1',name='x')`` with every value escaped and percent-encoded."""
    if not values:
        raise ValueError("an alternate key needs at least one column")
    parts = [f"{identifier(k)}={quote(literal(v), safe=_SEGMENT_SAFE)}"
             for k, v in values.items()]
    return "(" + ",".join(parts) + ")"


# -- values a recipe's template puts into a ``filter`` ---------------------------------------

# A params field's ``json_schema_extra`` key telling the template renderer how to encode each
# ``{{ }}`` value placed in the field (the engine stays generic: it reads this, not names).
TEMPLATE_VALUES = "x-template-values"
FILTER_TEMPLATE = {TEMPLATE_VALUES: "odata"}
FO_FILTER_TEMPLATE = {TEMPLATE_VALUES: "odata-fo"}
_GUID_TEXT = re.compile(r"\{?[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\}?")
_DATETIME_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?")
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


class ODataLiteral(str):
    """Text that already is an OData literal (``odata_quote``'s output) or that the recipe
    marked as raw filter text (``odata_raw``): put into a filter as it is."""


def template_literal(value: object, dialect: str = "odata") -> str:
    """A ``{{ }}`` value in a filter as an OData literal: strings quoted with quotes doubled,
    GUID- and ISO-date-shaped strings as GUID and date literals, numbers, booleans and null
    as such. ``dialect="odata-fo"`` also refuses ``*`` in a string (F&O reads it as a wildcard
    in ``eq``/``ne``). Lists and mappings are refused (ValueError)."""
    if isinstance(value, ODataLiteral):
        return str(value)
    if isinstance(value, list | tuple | dict | set):
        raise ValueError(f"a {type(value).__name__} cannot be put into a filter; pick one value")
    if not isinstance(value, str):
        return literal(value)
    text = value.strip()
    if _GUID_TEXT.fullmatch(text):
        return guid(text)
    if _DATETIME_TEXT.fullmatch(text):
        return _precise_datetime(text)
    if _DATE_TEXT.fullmatch(text):
        return date.fromisoformat(text).isoformat()
    if dialect == "odata-fo" and "*" in value:
        raise ValueError("the value contains '*', which F&O reads as a wildcard in a filter; "
                         "compare with ge and le, or pass it through | odata_quote on purpose")
    return string_literal(value)


def _precise_datetime(text: str) -> str:
    """Like :func:`datetime_literal`, keeping fractional seconds (a filter on a record's own
    ``modifiedon`` must not round it)."""
    moment = parse_datetime(text)
    if not moment.microsecond:
        return datetime_literal(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0") + "Z"
