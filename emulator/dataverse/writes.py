"""Create, upsert, update, delete and (dis)associate, with Dataverse's conditional rules.

``If-None-Match: *`` makes a PATCH create-only (412 when the row exists); ``If-Match: *``
makes it update-only (404 when missing); ``If-Match: W/"<version>"`` also checks the
version (412 on a mismatch). A PATCH without them is an upsert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.dataverse import duplicates, errors
from emulator.dataverse.environment import Environment
from emulator.dataverse.payload import PayloadReader, coerce
from emulator.dataverse.pipeline.registrations import check_step
from emulator.dataverse.schema import ManyToMany, Table
from emulator.dataverse.storage import Value
from emulator.dataverse.urls import Key, parse_key, parse_reference


@dataclass(frozen=True)
class Conditions:
    if_match: str | None = None
    if_none_match: str | None = None

    @classmethod
    def from_headers(cls, if_match: str | None, if_none_match: str | None) -> Conditions:
        # Clients send "If-None-Match: null" to defeat caching; it is no condition.
        return cls(if_match, None if if_none_match in (None, "null") else if_none_match)


@dataclass(frozen=True)
class WriteResult:
    record_id: str
    created: bool


def key_values(table: Table, key: Key) -> dict[str, Value]:
    """Alternate-key values by column, checked against the table's declared keys."""
    values = key.values or {}
    if table.key_named(frozenset(values)) is None:
        names = ",".join(values)
        raise errors.bad_query(f"The key '{names}' is not an alternate key of "
                               f"'{table.logical_name}'.")
    return {name: coerce(table, table.attributes[name], value) for name, value in values.items()}


def resolve(env: Environment, table: Table, key_text: str) -> tuple[str | None, Key]:
    """The id of the row a URL key names (None when no such row), and the parsed key."""
    key = parse_key(key_text)
    if key.record_id:
        found = env.storage.fetch(table, key.record_id)
        return (key.record_id if found is not None else None), key
    return env.storage.find_by_columns(table, key_values(table, key)), key


def require(env: Environment, table: Table, key_text: str) -> str:
    record_id, _ = resolve(env, table, key_text)
    if record_id is None:
        raise errors.not_found(table.logical_name, key_text)
    return record_id


def check_version(env: Environment, table: Table, record_id: str | None, key_text: str,
                  conditions: Conditions) -> None:
    if conditions.if_none_match == "*" and record_id is not None:
        raise errors.precondition_failed("A record with matching key values already exists.")
    if conditions.if_match is None:
        return
    if record_id is None:
        raise errors.not_found(table.logical_name, key_text)
    if conditions.if_match.strip() == "*":
        return
    row = env.storage.fetch(table, record_id)
    if row is None or _etag(row["versionnumber"]) != conditions.if_match.strip():
        raise errors.precondition_failed(
            "The version of the existing record doesn't match the RowVersion property provided.")


def _etag(version: int) -> str:
    return f'W/"{version}"'


def create(env: Environment, table: Table, body: Any, *,
           detect_duplicates: bool = False) -> str:
    reader = PayloadReader(env, table)
    values = reader.read(body)
    _check_registration(table, values)
    if detect_duplicates:
        duplicates.check(env, table, values)
    with env.storage.store.transaction():
        record_id = env.storage.insert(table, values)
        _link(env, table, record_id, reader)
    return record_id


def _check_registration(table: Table, values: dict[str, Value]) -> None:
    if table.logical_name == "sdkmessageprocessingstep":
        check_step(values)


def _link(env: Environment, table: Table, record_id: str, reader: PayloadReader) -> None:
    """Associate the rows a body bound through collection-valued navigation properties."""
    for nav, reference in reader.links:
        associate(env, table, record_id, nav, reference)


def upsert(env: Environment, table: Table, key_text: str, body: Any,
           conditions: Conditions, *, detect_duplicates: bool = False) -> WriteResult:
    record_id, key = resolve(env, table, key_text)
    check_version(env, table, record_id, key_text, conditions)
    reader = PayloadReader(env, table)
    values = reader.read(body)
    _check_registration(table, values)
    if detect_duplicates:
        duplicates.check(env, table, values, record_id)
    with env.storage.store.transaction():
        if record_id is not None:
            for column in (table.primary_id, *(key.values or {})):
                values.pop(column, None)  # keys cannot be changed through an upsert
            if values:
                env.storage.update(table, record_id, values)
            _link(env, table, record_id, reader)
            return WriteResult(record_id, created=False)
        from_url = {table.primary_id: key.record_id} if key.record_id else key_values(table, key)
        created = env.storage.insert(table, {**from_url, **values})
        _link(env, table, created, reader)
        return WriteResult(created, created=True)


def delete(env: Environment, table: Table, key_text: str, conditions: Conditions) -> None:
    record_id, _ = resolve(env, table, key_text)
    check_version(env, table, record_id, key_text, Conditions(conditions.if_match or "*"))
    assert record_id is not None
    env.storage.delete(table, record_id)


def set_property(env: Environment, table: Table, key_text: str, name: str, value: Any,
                 conditions: Conditions | None = None) -> None:
    record_id = require(env, table, key_text)
    if conditions is not None and conditions.if_match is not None:
        check_version(env, table, record_id, key_text, conditions)
    attr = table.attributes.get(name)
    if attr is None or attr.read_only or attr.column != name:
        raise errors.unknown_property(name, table.logical_name)
    env.storage.update(table, record_id, {attr.column: coerce(table, attr, value)})


def set_reference(env: Environment, table: Table, key_text: str, nav_name: str,
                  reference: str | None) -> None:
    """PUT (``reference``) or DELETE (None) on a single-valued ``…/<nav>/$ref``."""
    record_id = require(env, table, key_text)
    reader = PayloadReader(env, table)
    env.storage.update(table, record_id, reader.bind(nav_name, reference))


def associate(env: Environment, table: Table, key_text: str, nav_name: str,
              reference: str) -> None:
    """POST ``…/<collection nav>/$ref``: point the referenced row's lookup at this row (1:N),
    or add the pair to the intersect table (N:N)."""
    record_id = require(env, table, key_text)
    if nav_name in table.many_to_many:
        _associate_many(env, table, record_id, table.many_to_many[nav_name], reference, True)
        return
    nav = table.collections.get(nav_name)
    if nav is None:
        raise errors.unknown_property(nav_name, table.logical_name)
    source = _collection_source(env, nav.source)
    segment = parse_reference(reference)
    if segment.name != source.entity_set:
        raise errors.bad_query(f"'{nav_name}' holds {source.entity_set}, not {segment.name}.")
    source_id = require(env, source, segment.key or "")
    env.storage.update(source, source_id, {nav.attribute.column: record_id,
                                           nav.attribute.type_column: table.logical_name})


def disassociate(env: Environment, table: Table, key_text: str, nav_name: str,
                 reference: str | None) -> None:
    """DELETE ``…/<nav>/$ref``, for single-valued or (with the member's URL) collections."""
    if table.navigation(nav_name) is not None:
        set_reference(env, table, key_text, nav_name, None)
        return
    record_id = require(env, table, key_text)
    if reference is None:
        raise errors.bad_query("Removing a collection member needs $id or a keyed segment.")
    if nav_name in table.many_to_many:
        _associate_many(env, table, record_id, table.many_to_many[nav_name], reference, False)
        return
    nav = table.collections.get(nav_name)
    if nav is None:
        raise errors.unknown_property(nav_name, table.logical_name)
    source = _collection_source(env, nav.source)
    segment = parse_reference(reference)
    source_id = require(env, source, segment.key or "")
    row = env.storage.fetch(source, source_id)
    if row is not None and row[nav.attribute.column] == record_id:
        env.storage.update(source, source_id, {nav.attribute.column: None,
                                               nav.attribute.type_column: None})


def _associate_many(env: Environment, table: Table, record_id: str, relation: ManyToMany,
                    reference: str, add: bool) -> None:
    other_name = relation.entity2 if relation.entity1 == table.logical_name else relation.entity1
    other = _collection_source(env, other_name)
    segment = parse_reference(reference)
    if segment.name != other.entity_set:
        raise errors.bad_query(f"'{relation.schema_name}' holds {other.entity_set}, not "
                               f"{segment.name}.")
    other_id = require(env, other, segment.key or "")
    pair = (record_id, other_id) if relation.entity1 == table.logical_name else (
        other_id, record_id)
    if add:
        env.intersects.associate(relation, *pair)
    elif not env.intersects.disassociate(relation, *pair):
        raise errors.DataverseError(404, errors.OBJECT_DOES_NOT_EXIST, (
            f"The records are not associated through '{relation.schema_name}'."))


def _collection_source(env: Environment, logical_name: str) -> Table:
    source = env.catalog.by_logical_name(logical_name)
    assert source is not None
    return source
