"""Rows as Dataverse JSON, built by SQLite so no Python dict exists per row.

:class:`RowRenderer` turns (table, ``$select``, ``$expand``, annotations) into one SQL
expression whose value is the row's JSON text: ``@odata.etag`` = ``W/"<versionnumber>"``,
the primary key always, lookups as ``_x_value``, datetimes ``YYYY-MM-DDTHH:MM:SSZ``, money as
numbers, and, when ``Prefer: odata.include-annotations`` asks, FormattedValue /
lookuplogicalname / associatednavigationproperty annotations before each value.
A page is then ``",".join(row_texts)`` inside a fixed envelope.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import count
from typing import Any

from emulator.dataverse import paging, prefer
from emulator.dataverse.filters import filter_sql
from emulator.dataverse.query import CollectionExpand, Expand
from emulator.dataverse.schema import (
    Attribute,
    AttributeType,
    CollectionNavigation,
    ManyToMany,
    Table,
)
from emulator.dataverse.tables import Catalog

T = AttributeType
JSON_TYPE = "application/json; odata.metadata=minimal"
_NUMERIC = (T.INTEGER, T.PICKLIST, T.STATE, T.STATUS, T.DECIMAL, T.MONEY)


def sql_text(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def json_key(name: str) -> str:
    return json.dumps(name) + ":"


@dataclass(frozen=True)
class Annotations:
    formatted: bool = False
    lookup_logical_name: bool = False
    associated_navigation: bool = False

    @classmethod
    def from_preferences(cls, prefs: prefer.Preferences) -> Annotations:
        return cls(prefs.wants(prefer.FORMATTED), prefs.wants(prefer.LOOKUP_LOGICAL_NAME),
                   prefs.wants(prefer.ASSOCIATED_NAVIGATION))


class RowRenderer:
    def __init__(self, catalog: Catalog, annotations: Annotations | None = None,
                 params: dict[str, Any] | None = None) -> None:
        self.catalog = catalog
        self.annotations = annotations or Annotations()
        self.params = params if params is not None else {}  # for $filter inside $expand
        self._aliases = count(1)

    def json_sql(self, table: Table, alias: str, select: tuple[Attribute, ...] | None = None,
                 expand: tuple[Expand | CollectionExpand, ...] = ()) -> str:
        """A SQL expression (over ``alias``) whose value is the row's JSON object text."""
        pieces = [f"""'{{"@odata.etag":"W/\\"' || {alias}.versionnumber || '\\""'"""]
        for attr in self._columns(table, select):
            pieces.extend(self._property(table, attr, f'{alias}."{attr.column}"', alias))
        for item in expand:
            pieces.append(sql_text("," + json_key(item.name)))
            if isinstance(item, CollectionExpand):
                pieces.append(f"coalesce(({self._collection_sql(table, item, alias)}), '[]')")
            else:
                pieces.append(f"coalesce(({self._expand_sql(item, alias)}), 'null')")
        pieces.append("'}'")
        return " || ".join(pieces)

    def _columns(self, table: Table, select: tuple[Attribute, ...] | None) -> list[Attribute]:
        if select is None:
            return list(table.attributes.values())
        chosen = {a.name for a in select} | {table.primary_id}
        return [a for a in table.attributes.values() if a.name in chosen]

    def _property(self, table: Table, attr: Attribute, col: str, alias: str) -> list[str]:
        pieces = []
        if self.annotations.formatted:
            pieces.append(self._formatted(table, attr, col, alias))
        if attr.type is T.LOOKUP:
            pieces.extend(self._lookup_annotations(attr, col, alias))
        pieces.append(sql_text("," + json_key(attr.column)))
        pieces.append("'null'" if attr.write_only else value_sql(attr, col))
        return [p for p in pieces if p]

    def _formatted(self, table: Table, attr: Attribute, col: str, alias: str) -> str:
        key = sql_text("," + json_key(f"{attr.column}@{prefer.FORMATTED}"))
        if attr.type.is_option_set and attr.options:
            prefix = "," + json_key(f"{attr.column}@{prefer.FORMATTED}")
            cases = " ".join(f"WHEN {v} THEN {sql_text(prefix + json.dumps(label))}"
                             for v, label in attr.options.items())
            return f"CASE {col} {cases} ELSE '' END"
        if attr.type is T.MULTISELECT and attr.options:
            return f"CASE WHEN {col} IS NULL THEN '' ELSE {key} || json_quote(({_labels(attr, col)})) END"  # noqa: E501
        if attr.type is T.BOOLEAN:
            return f"""CASE {col} WHEN 1 THEN {key} || '"Yes"' WHEN 0 THEN {key} || '"No"' ELSE '' END"""  # noqa: E501
        if attr.type is T.MONEY:
            cents = f"CAST(round(abs({col}) * 100) AS INTEGER)"
            text = (f"printf('%s$%,d.%02d', CASE WHEN {col} < 0 THEN '-' ELSE '' END, "
                    f"{cents} / 100, {cents} % 100)")
            return f"""CASE WHEN {col} IS NULL THEN '' ELSE {key} || '"' || {text} || '"' END"""
        if attr.type is T.INTEGER and attr.name != "versionnumber":
            return f"""CASE WHEN {col} IS NULL THEN '' ELSE {key} || '"' || printf('%,d', {col}) || '"' END"""  # noqa: E501
        if attr.type is T.LOOKUP:
            return f"CASE WHEN {col} IS NULL THEN '' ELSE {key} || json_quote({self._lookup_name(attr, alias)}) END"  # noqa: E501
        return ""

    def _lookup_name(self, attr: Attribute, alias: str) -> str:
        cases = []
        for target_name in attr.targets:
            target = self.catalog.by_logical_name(target_name)
            assert target is not None
            inner = f"l{next(self._aliases)}"
            cases.append(
                f'WHEN {sql_text(target_name)} THEN (SELECT {inner}."{target.primary_name}" '
                f"FROM {target.sql_table} AS {inner} "
                f'WHERE {inner}."{target.primary_id}" = {alias}."{attr.column}")')
        return f'CASE {alias}."{attr.type_column}" {" ".join(cases)} END'

    def _lookup_annotations(self, attr: Attribute, col: str, alias: str) -> list[str]:
        kind = f'{alias}."{attr.type_column}"'
        pieces = []
        if self.annotations.associated_navigation:
            key = sql_text("," + json_key(f"{attr.column}@{prefer.ASSOCIATED_NAVIGATION}"))
            nav = (sql_text(json.dumps(attr.name)) if len(attr.targets) == 1
                   else f"""'"{attr.name}_' || {kind} || '"'""")
            pieces.append(f"CASE WHEN {col} IS NULL THEN '' ELSE {key} || {nav} END")
        if self.annotations.lookup_logical_name:
            key = sql_text("," + json_key(f"{attr.column}@{prefer.LOOKUP_LOGICAL_NAME}"))
            pieces.append(f"CASE WHEN {col} IS NULL THEN '' ELSE {key} || json_quote({kind}) END")
        return pieces

    def _expand_sql(self, item: Expand, alias: str) -> str:
        inner = f"x{next(self._aliases)}"
        lookup = item.nav.attribute
        where = f'{inner}."{item.target.primary_id}" = {alias}."{lookup.column}"'
        if len(lookup.targets) > 1:
            where += f' AND {alias}."{lookup.type_column}" = {sql_text(item.target.logical_name)}'
        row = self.json_sql(item.target, inner, item.select, item.expand)
        return f"SELECT {row} FROM {item.target.sql_table} AS {inner} WHERE {where}"

    def _collection_sql(self, table: Table, item: CollectionExpand, alias: str) -> str:
        """The related rows as a JSON array, filtered, ordered and limited as asked."""
        inner = f"x{next(self._aliases)}"
        where = [related_rows_sql(table, item.link, item.target, inner,
                                  f'{alias}."{table.primary_id}"')]
        if item.filter:
            condition = filter_sql(item.filter, item.target, inner, self.catalog, self.params)
            where.append(f"({condition})")
        order = paging.order_sql(paging.ordering(item.target, item.orderby), inner)
        row = self.json_sql(item.target, inner, item.select, item.expand)
        limit = f" LIMIT {int(item.top)}" if item.top is not None else ""
        return (f"SELECT json_group_array(json(j)) FROM (SELECT {row} AS j FROM "
                f"{item.target.sql_table} AS {inner} WHERE {' AND '.join(where)} "
                f"ORDER BY {order}{limit})")


def related_rows_sql(table: Table, link: CollectionNavigation | ManyToMany, target: Table,
                     alias: str, owner_id: str) -> str:
    """A WHERE fragment: rows of ``target`` (as ``alias``) related to ``owner_id`` (a SQL
    expression naming a row of ``table``) through a 1:N or N:N relationship."""
    if isinstance(link, CollectionNavigation):
        lookup = link.attribute
        where = f'{alias}."{lookup.column}" = {owner_id}'
        if len(lookup.targets) > 1:
            where += f' AND {alias}."{lookup.type_column}" = {sql_text(table.logical_name)}'
        return where
    mine, theirs = ((link.entity1_attribute, link.entity2_attribute)
                    if link.entity1 == table.logical_name
                    else (link.entity2_attribute, link.entity1_attribute))
    return (f'{alias}."{target.primary_id}" IN (SELECT "{theirs}" FROM dv_nn_{link.intersect} '
            f'WHERE "{mine}" = {owner_id})')


def _labels(attr: Attribute, col: str) -> str:
    """The labels of a multi-select value ``"1,3"``, joined with "; " as Dataverse shows them."""
    options = " UNION ALL ".join(f"SELECT {v} AS v, {sql_text(label)} AS label"
                                 for v, label in attr.options.items())
    return (f"SELECT group_concat(label, '; ') FROM (SELECT o.label FROM json_each('[' || "
            f"{col} || ']') AS j JOIN ({options}) AS o ON o.v = j.value ORDER BY j.key)")


def value_sql(attr: Attribute, col: str) -> str:
    """The JSON text of one column's value (``null`` when NULL)."""
    if attr.type in _NUMERIC:
        return f"coalesce({col}, 'null')"
    if attr.type is T.BOOLEAN:
        return f"CASE {col} WHEN 1 THEN 'true' WHEN 0 THEN 'false' ELSE 'null' END"
    if attr.type is T.IMAGE:  # an image column returns the image itself, base64
        return f"json_quote((SELECT f.content FROM dv_file AS f WHERE f.fileid = {col}))"
    if attr.type is T.DATETIME:
        return f"""coalesce('"' || strftime('%Y-%m-%dT%H:%M:%SZ', {col}, 'unixepoch') || '"', 'null')"""  # noqa: E501
    return f"json_quote({col})"


def context_url(service_root: str, table: Table, suffix: str = "", entity: bool = False) -> str:
    tail = "/$entity" if entity else ""
    return f"{service_root}/$metadata#{table.entity_set}{suffix}{tail}"
