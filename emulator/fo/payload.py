"""Request bodies and literals -> column values, and column values -> JSON text in SQL.

F&O fields are never null (X++ has no nulls): an absent string is ``""``, a number ``0``,
an enum its first member, and an empty datetime is ``1900-01-01T00:00:00Z``, which is what
F&O answers for an empty ``utcdatetime`` [I, commonly seen]. Datetimes are stored as
INTEGER epoch seconds (whole seconds, UTC); enums as their member name, which is how F&O
shows them in JSON (reference §9).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from emulator.fo import errors
from emulator.fo.entities import Entity, EntityField, FieldType

Value = str | int | float
EMPTY_DATETIME_S = int(datetime(1900, 1, 1, tzinfo=UTC).timestamp())


def parse_datetime(text: str) -> float:
    """ISO 8601 (``Z`` or an offset; no zone means UTC) -> epoch seconds."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_datetime(epoch_s: int | float) -> str:
    return datetime.fromtimestamp(int(epoch_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_value(entity_field: EntityField, enums: Mapping[str, Mapping[str, int]]) -> Value:
    match entity_field.type:
        case FieldType.STRING:
            return ""
        case FieldType.ENUM:
            return next(iter(enums[entity_field.enum or ""]))
        case FieldType.DATETIME:
            return EMPTY_DATETIME_S
        case _:
            return 0


def defaults(entity: Entity, enums: Mapping[str, Mapping[str, int]]) -> dict[str, Value]:
    return {f.name: default_value(f, enums) for f in entity.fields}


class PayloadReader:
    """Reads a JSON body into column values, checking names, types and enum members."""

    def __init__(self, entity: Entity, enums: Mapping[str, Mapping[str, int]]) -> None:
        self.entity = entity
        self.enums = enums

    def read(self, body: Any) -> dict[str, Value]:
        if not isinstance(body, dict):
            raise errors.bad_request("The request body must be a JSON object.")
        values: dict[str, Value] = {}
        for name, raw in body.items():
            if name.startswith("@odata."):
                continue  # @odata.etag / @odata.type from a round-tripped entity
            entity_field = self.entity.field(name)
            if entity_field is None:
                raise errors.bad_request(
                    f"The property '{name}' does not exist on type '{self.entity.edm_type}'. "
                    "Make sure to only use property names that are defined by the type.")
            values[name] = self.value(entity_field, raw)
        return values

    def value(self, entity_field: EntityField, raw: Any) -> Value:
        try:
            return self._convert(entity_field, raw)
        except (TypeError, ValueError):
            raise errors.bad_request(
                f"Cannot convert the literal '{raw}' to the expected type of property "
                f"'{entity_field.name}'.") from None

    def _convert(self, entity_field: EntityField, raw: Any) -> Value:
        if raw is None:
            return default_value(entity_field, self.enums)
        match entity_field.type:
            case FieldType.STRING:
                return _require(raw, str)
            case FieldType.INT:
                return int(_require(raw, int))
            case FieldType.REAL:
                return float(_require(raw, int | float))
            case FieldType.DATETIME:
                return int(parse_datetime(_require(raw, str)))
            case FieldType.ENUM:
                return self.enum_member(entity_field, raw)
        raise ValueError(entity_field.type)

    def enum_member(self, entity_field: EntityField, raw: Any) -> str:
        members = self.enums[entity_field.enum or ""]
        if isinstance(raw, str) and raw in members:
            return raw
        raise ValueError(raw)


def _require(raw: Any, kind: Any) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, kind):
        raise TypeError(raw)
    return raw


def json_sql(entity: Entity, alias: str, names: tuple[str, ...] | None = None) -> str:
    """A SQL expression over ``alias`` whose value is the row's JSON object text.

    Concatenation rather than ``json_object`` keeps entities with many fields under
    SQLite's function-argument limit.
    """
    chosen = [f for f in entity.fields if names is None or f.name in names]
    # The storage's ETAG column, spelled out: storage imports this module.
    pieces = [f"""'{{"@odata.etag":' || json_quote({alias}."$etag")"""]
    for entity_field in chosen:
        pieces.append(f"'{',' + json.dumps(entity_field.name)}:' || "
                      f"{value_sql(entity_field, alias)}")
    return " || ".join(pieces) + " || '}'"


def value_sql(entity_field: EntityField, alias: str) -> str:
    column = f'{alias}."{entity_field.name}"'
    if entity_field.type is FieldType.DATETIME:
        return f"json_quote(strftime('%Y-%m-%dT%H:%M:%SZ', {column}, 'unixepoch'))"
    if entity_field.type is FieldType.REAL:
        return f"json_quote(CAST({column} AS REAL))"
    return f"json_quote({column})"
