"""``validate --online`` for Dataverse steps: names in a step's params checked against the
environment's metadata (read through the actions' own per-client cache).

Every ``dynamics365`` trigger and action uses the same param names for the same things, so
the checks go by name: ``table`` (entity set or logical name; a trigger needs the entity set),
``select``, ``fields`` (columns; lookups' target tables; option-set labels given as text),
``key`` and ``key_columns`` (columns that form an alternate key), ``where``, ``primary_key``,
``rows`` and ``requests`` (``batch``), ``related`` (``associate``). Templates are skipped: they
are known only once rendered. Each finding is a path relative to the step and a message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.base import Anchor, FieldPath, Finding, OnlineChecker, OnlineUse
from connectors.dynamics365.actions.metadata import Column, TableInfo, list_tables, table_info
from connectors.dynamics365.client import DataverseClient
from connectors.errors import FatalError
from connectors.online import has_template, suggestion

_LOOKUP_VALUE = re.compile(r"_(\w+)_value")
REGISTRATION_TABLES = (("serviceendpoints", "serviceendpointid"),
                       ("sdkmessageprocessingsteps", "sdkmessageprocessingstepid"),
                       ("sdkmessagefilters", "sdkmessagefilterid"))


def _concrete(value: object) -> bool:
    """A value the recipe fixes now (not a template filled in per event)."""
    return not (isinstance(value, str) and has_template(value))


class DataverseChecker:
    """Checks ``dynamics365`` params against one environment; findings pile up in ``found``."""

    def __init__(self, client: DataverseClient) -> None:
        self.client = client
        self.found: list[Finding] = []
        self._tables: dict[str, str] | None = None  # entity set or logical name -> logical
        self._entity_sets: list[str] = []  # what suggestions offer: valid for every step

    async def check(self, params: Mapping[str, Any], *, trigger: bool = False) -> list[Finding]:
        """Every finding of one step's params (raises ConnectorError if the service fails)."""
        self.found = []
        info = await self._table(params.get("table"), ("table",), entity_set_only=trigger)
        if info is not None:
            await self._table_params(info, params, ())
            self._select(info, params.get("changed_columns"), ("changed_columns",))
        if trigger and params.get("mode") in ("push", "hybrid"):
            await self._can_register(params["mode"])
        await self._requests(params.get("requests"))
        await self._reference(params.get("related"), ("related",))
        return self.found

    async def _table_params(self, info: TableInfo, params: Mapping[str, Any],
                            path: FieldPath) -> None:
        self._select(info, params.get("select"), (*path, "select"))
        await self._fields(info, params.get("fields"), (*path, "fields"))
        self._key(info, params.get("key"), (*path, "key"))
        self._names(info, params.get("where"), (*path, "where"))
        self._key_columns(info, params.get("key_columns"), (*path, "key_columns"))
        if isinstance(params.get("primary_key"), str):
            self._column(info, params["primary_key"], (*path, "primary_key"))
        rows = params.get("rows")
        for index, row in enumerate(rows if isinstance(rows, list) else []):
            await self._fields(info, row, (*path, "rows", index))

    async def _can_register(self, mode: str) -> None:
        """Whether this identity may read what a webhook registration is made of (a user
        who cannot read them cannot create them either): Dataverse's own refusal, named."""
        for entity_set, key in REGISTRATION_TABLES:
            try:
                await self.client.get_json(entity_set, {"$select": key, "$top": 1})
            except FatalError as exc:
                if exc.status not in (401, 403):
                    raise
                self.found.append(Finding(("mode",), (
                    f"mode {mode} registers a webhook, but this connection's user may not "
                    f"read {entity_set}: {exc.message} (give it a role with the Service "
                    "Endpoint and SDK Message Processing Step privileges)")))
                return

    # -- tables ------------------------------------------------------------------------

    async def _known_tables(self) -> dict[str, str]:
        if self._tables is None:
            self._tables = {}
            for row in await list_tables(self.client):
                logical, entity_set = str(row["LogicalName"]), str(row["EntitySetName"])
                self._tables[logical] = self._tables[entity_set] = logical
                self._entity_sets.append(entity_set)
        return self._tables

    async def _table(self, name: object, path: FieldPath,
                     entity_set_only: bool = False) -> TableInfo | None:
        if not isinstance(name, str) or not _concrete(name):
            return None
        known = await self._known_tables()
        if name not in known:
            # entity set names only: a trigger refuses a logical name, an action takes both
            self.found.append(Finding(path, f"unknown table {name!r}"
                                      + suggestion(name, self._entity_sets)))
            return None
        info = await table_info(self.client, name)
        if entity_set_only and name != info.entity_set:
            self.found.append(Finding(path, f"{name!r} is a logical name; a trigger needs the "
                                            f"entity set name {info.entity_set!r}"))
        return info

    # -- columns -----------------------------------------------------------------------

    def _column(self, info: TableInfo, name: str, path: FieldPath,
                at: Anchor = "value") -> Column | None:
        if not _concrete(name):
            return None
        column = info.columns.get(name)
        if column is None:
            self.found.append(Finding(path, f"table {info.logical_name} has no column {name!r}"
                                      + suggestion(name, info.columns), at))
        return column

    def _select(self, info: TableInfo, names: object, path: FieldPath) -> None:
        for index, name in enumerate(names if isinstance(names, list) else []):
            if not isinstance(name, str):
                continue
            lookup = _LOOKUP_VALUE.fullmatch(name)
            if lookup and (column := info.columns.get(lookup.group(1))) and column.is_lookup:
                continue  # `_parentcustomerid_value`: how the Web API names a lookup's value
            self._column(info, name, (*path, index))

    def _names(self, info: TableInfo, mapping: object, path: FieldPath) -> None:
        for name in mapping if isinstance(mapping, dict) else {}:
            self._column(info, str(name), (*path, name), "key")

    async def _fields(self, info: TableInfo, fields: object, path: FieldPath) -> None:
        if not isinstance(fields, dict):
            return
        for name, value in fields.items():
            if "@" in str(name):
                continue  # `x@odata.bind` given verbatim passes through unchecked
            column = self._column(info, str(name), (*path, name), "key")
            if column is not None and value is not None and _concrete(value):
                await self._value(info, column, value, (*path, name))

    async def _value(self, info: TableInfo, column: Column, value: Any, path: FieldPath) -> None:
        if column.is_lookup:
            await self._lookup(info, column, value, path)
        elif column.type == "Picklist" and isinstance(value, str):
            self._label(info, column, value, path)

    def _label(self, info: TableInfo, column: Column, text: str, path: FieldPath) -> None:
        text = text.strip()
        labels = list(column.options.values())
        if text.lstrip("-").isdigit() or any(lb.casefold() == text.casefold() for lb in labels):
            return
        hint = suggestion(text, labels) or "; valid labels: " + ", ".join(map(repr, labels))
        self.found.append(Finding(
            path, f"{info.logical_name}.{column.name} has no option labelled {text!r}{hint}"))

    # -- lookups and keys --------------------------------------------------------------

    async def _lookup(self, info: TableInfo, column: Column, value: Any, path: FieldPath) -> None:
        where = f"{info.logical_name}.{column.name}"
        if isinstance(value, str):
            if len(column.targets) != 1:
                self.found.append(Finding(path, f"{where} can point at {', '.join(column.targets)}"
                                                "; give {table: …, id: …}"))
            return
        if not isinstance(value, dict) or "table" not in value:
            self.found.append(Finding(path, f"{where} is a lookup: give {{table: <table>, id: "
                                            "<guid>}} or {table: <table>, key: {…}}"))
            return
        target = await self._reference(value, path)
        if target is not None and target.logical_name not in column.targets:
            self.found.append(Finding((*path, "table"), f"{where} cannot point at a "
                                      f"{target.logical_name} record; it accepts "
                                      + ", ".join(column.targets)))

    async def _reference(self, value: object, path: FieldPath) -> TableInfo | None:
        """``{table, id}`` or ``{table, key}``: the table, and the key's columns."""
        if not isinstance(value, dict):
            return None
        target = await self._table(value.get("table"), (*path, "table"))
        if target is not None:
            self._key(target, value.get("key"), (*path, "key"))
        return target

    def _key(self, info: TableInfo, key: object, path: FieldPath) -> None:
        if isinstance(key, dict) and key:
            self._names(info, key, path)
            self._alternate_key(info, [str(name) for name in key], path)

    def _key_columns(self, info: TableInfo, names: object, path: FieldPath) -> None:
        if not isinstance(names, list) or not names:
            return
        for index, name in enumerate(names):
            self._column(info, str(name), (*path, index))
        self._alternate_key(info, [str(name) for name in names], path)

    def _alternate_key(self, info: TableInfo, names: Sequence[str], path: FieldPath) -> None:
        if not all(n in info.columns for n in names) or set(names) == {info.primary_id}:
            return  # an unknown column is reported on its own; the primary id always works
        if any(set(columns) == set(names) for columns in info.keys.values()):
            return
        keys = ", ".join(f"{n} ({', '.join(c)})" for n, c in info.keys.items()) or "none"
        self.found.append(Finding(path, f"table {info.logical_name} has no alternate key on "
                                        f"{', '.join(names)}; its alternate keys: {keys}", "key"))

    async def _requests(self, requests: object) -> None:
        for index, request in enumerate(requests if isinstance(requests, list) else []):
            if isinstance(request, dict):
                path: FieldPath = ("requests", index)
                info = await self._table(request.get("table"), (*path, "table"))
                if info is not None:
                    await self._table_params(info, request, path)


def online_check(client: DataverseClient) -> OnlineChecker:
    """``validate --online`` for steps on one Dataverse connection (tables read once)."""
    checker = DataverseChecker(client)

    async def check(use: OnlineUse) -> list[Finding]:
        return await checker.check(use.params, trigger=use.trigger)

    return check
