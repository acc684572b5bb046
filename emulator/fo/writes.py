"""Creating, updating and deleting entities, and inserting rows for the control plane.

On every OData write the server stamps the entity's change-date field (and, on create, its
created-date field) from the emulator clock, whatever the body says. ``dataAreaId``
defaults to the default company and is kept lower case, as F&O shows company ids.
Missing key or mandatory fields fail the write the X++ way (``AxODataWriteException``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emulator.fo import errors
from emulator.fo.entities import DATA_AREA, Entity, FieldType
from emulator.fo.environment import FoEnvironment
from emulator.fo.payload import PayloadReader, Value, defaults, format_datetime


def complete_row(env: FoEnvironment, entity: Entity, values: Mapping[str, Value],
                 stamp: bool) -> dict[str, Value]:
    """Every field: defaults, then ``values``, then (if ``stamp``) the server's dates."""
    row = {**defaults(entity, env.catalog.enums), **values}
    if entity.company_specific:
        row[DATA_AREA] = str(row[DATA_AREA] or env.default_company).lower()
    now = env.now_s()
    for name in entity.server_dates():
        if stamp or name not in values:
            row[name] = now
    check_required(entity, row)
    return row


def check_required(entity: Entity, row: Mapping[str, Value]) -> None:
    for name in (*entity.key, *sorted(entity.mandatory)):
        if row.get(name) in ("", None):
            raise errors.write_failed(entity.table_type,
                                      f"Error: Field '{name}' must be filled in.")


def create(env: FoEnvironment, entity: Entity, body: Any) -> dict[str, Value]:
    """Insert the entity in ``body``; returns the stored row (every field)."""
    values = PayloadReader(entity, env.catalog.enums).read(body)
    row = complete_row(env, entity, values, stamp=True)
    env.storage.insert(entity, row)
    return row


def update(env: FoEnvironment, entity: Entity, rowid: int, body: Any) -> None:
    values = PayloadReader(entity, env.catalog.enums).read(body)
    current = env.storage.fetch(entity, rowid)
    assert current is not None
    for name in entity.key:
        if name in values and str(values[name]).lower() != str(current[name]).lower():
            raise errors.write_failed(entity.table_type,
                                      f"Error: The key field '{name}' cannot be changed.")
        values.pop(name, None)
    if entity.created_date_field:
        values.pop(entity.created_date_field, None)
    if entity.change_date_field:
        values[entity.change_date_field] = env.now_s()
    if values:
        env.storage.update(entity, rowid, values)


def delete(env: FoEnvironment, entity: Entity, rowid: int) -> None:
    env.storage.delete(entity, rowid)


def insert_rows(env: FoEnvironment, entity: Entity, rows: list[Any]) -> int:
    """Control-plane insert: rows in OData shape; date fields given are kept as given."""
    reader = PayloadReader(entity, env.catalog.enums)
    complete = [complete_row(env, entity, reader.read(row), stamp=False) for row in rows]
    return env.storage.insert_many(entity, complete)


def raw_row(entity: Entity, row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored row as JSON values (datetimes ISO), for the control plane."""
    out = {}
    for entity_field in entity.fields:
        value = row[entity_field.name]
        out[entity_field.name] = (format_datetime(value)
                                  if entity_field.type is FieldType.DATETIME else value)
    return out
