"""Table metadata the actions need, read once per client from ``EntityDefinitions``.

:func:`table_info` accepts a table's entity set name (``accounts``) or logical name
(``account``) and returns a :class:`TableInfo`: columns with types, option sets (value ↔
label), lookup targets with their single-valued navigation properties (from
``ManyToOneRelationships``' ``ReferencingEntityNavigationPropertyName``; for a polymorphic
lookup ``<attr>_<target>``), and alternate keys. The cache lives beside the client (a weak
map), so it goes away with the connection.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Any

from connectors.dynamics365.client import DataverseClient
from connectors.errors import FatalError
from connectors.odata import escaping as odata

# Choice columns and the metadata casts that expand their option sets (Microsoft's
# "Query table definitions": OptionSet is only returned through the type-cast path).
CHOICE_TYPES = ("Picklist", "State", "Status", "MultiSelectPicklist")
CHOICE_CASTS = tuple(f"{kind}AttributeMetadata" for kind in CHOICE_TYPES)


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Dataverse AttributeType: String, Picklist, Lookup, Money, …
    options: dict[int, str] = field(default_factory=dict)  # option set value -> label
    targets: tuple[str, ...] = ()  # lookup target logical names
    max_length: int | None = None
    read_only: bool = False

    @property
    def is_lookup(self) -> bool:
        return self.type in ("Lookup", "Customer", "Owner")

    @property
    def is_choice(self) -> bool:
        """An option set column: a value or a label (several for a multi-select choice)."""
        return self.type in CHOICE_TYPES


@dataclass(frozen=True)
class TableInfo:
    logical_name: str
    entity_set: str
    primary_id: str
    primary_name: str
    columns: dict[str, Column]
    keys: dict[str, tuple[str, ...]]  # alternate key name -> its columns
    navigation: dict[tuple[str, str], str]  # (lookup, target logical name) -> nav property
    display_name: str = ""

    def nav_property(self, lookup: str, target: str) -> str:
        """The navigation property that binds ``lookup`` to a row of ``target``."""
        if (lookup, target) in self.navigation:
            return self.navigation[(lookup, target)]
        column = self.columns.get(lookup)
        if column is None or not column.is_lookup or target not in column.targets:
            valid = sorted(t for (name, t) in self.navigation if name == lookup)
            raise FatalError(f"{self.logical_name}.{lookup} cannot point at a {target} record"
                             + (f"; it accepts {valid}" if valid else "; it is not a lookup"))
        return lookup if len(column.targets) == 1 else f"{lookup}_{target}"


class MetadataCache:
    """Table metadata of one connection, by entity set and by logical name."""

    def __init__(self) -> None:
        self.tables: dict[str, TableInfo] = {}
        self.lock = asyncio.Lock()


_CACHES: weakref.WeakKeyDictionary[DataverseClient, MetadataCache] = \
    weakref.WeakKeyDictionary()


def cache_of(client: DataverseClient) -> MetadataCache:
    if client not in _CACHES:
        _CACHES[client] = MetadataCache()
    return _CACHES[client]


async def table_info(client: DataverseClient, table: str) -> TableInfo:
    """The metadata of ``table`` (entity set or logical name); FatalError when unknown."""
    cache = cache_of(client)
    if table in cache.tables:
        return cache.tables[table]
    async with cache.lock:
        if table not in cache.tables:
            info = await _load(client, table)
            cache.tables[info.entity_set] = cache.tables[info.logical_name] = info
    return cache.tables[table]


async def list_tables(client: DataverseClient) -> list[dict[str, Any]]:
    body = await client.get_json("EntityDefinitions", {"$select": ",".join((
        "LogicalName", "EntitySetName", "PrimaryIdAttribute", "PrimaryNameAttribute",
        "SchemaName", "ChangeTrackingEnabled"))})
    return list(body.get("value") or [])


async def _load(client: DataverseClient, table: str) -> TableInfo:
    name = odata.string_literal(table)
    found = await client.get_json("EntityDefinitions", {
        "$select": "LogicalName", "$filter": f"EntitySetName eq {name} or LogicalName eq {name}"})
    rows = found.get("value") if isinstance(found, dict) else None
    if not rows:
        raise FatalError(f"Dataverse has no table named {table!r} (entity set or logical name)",
                         status=404)
    logical = odata.string_literal(str(rows[0]["LogicalName"]))
    definition = f"EntityDefinitions(LogicalName={logical})"
    body, *choices = await asyncio.gather(
        client.get_json(definition, {"$expand": "Attributes,Keys,ManyToOneRelationships"}),
        *(client.get_json(f"{definition}/Attributes/Microsoft.Dynamics.CRM.{cast}",
                          {"$select": "LogicalName", "$expand": "OptionSet($select=Options)"})
          for cast in CHOICE_CASTS))
    options = {str(a["LogicalName"]): (kind, a.get("OptionSet"))
               for kind, reply in zip(CHOICE_TYPES, choices, strict=True)
               for a in reply.get("value") or []}
    return parse_definition(body, options)


def parse_definition(body: dict[str, Any],
                     choices: dict[str, tuple[str, Any]] | None = None) -> TableInfo:
    """A :class:`TableInfo` from one ``EntityDefinitions`` entity with its expansions, and
    the choice columns (column -> its choice type and option set) read through the metadata
    casts: a plain ``$expand=Attributes`` carries no option set, and a multi-select
    choice's AttributeType there is only ``Virtual``."""
    known = choices or {}
    columns = {str(a["LogicalName"]): _column(a, *known.get(str(a["LogicalName"]), (None,)))
               for a in body.get("Attributes") or []}
    keys = {str(k["LogicalName"]): tuple(k.get("KeyAttributes") or [])
            for k in body.get("Keys") or []}
    navigation = {(str(r["ReferencingAttribute"]), str(r["ReferencedEntity"])):
                  str(r["ReferencingEntityNavigationPropertyName"])
                  for r in body.get("ManyToOneRelationships") or []}
    return TableInfo(str(body["LogicalName"]), str(body["EntitySetName"]),
                     str(body["PrimaryIdAttribute"]), str(body.get("PrimaryNameAttribute") or ""),
                     columns, keys, navigation, str(body.get("SchemaName") or ""))


def _column(attribute: dict[str, Any], kind: str | None = None,
            option_set: Any = None) -> Column:
    options = {}
    for option in (option_set or attribute.get("OptionSet") or {}).get("Options") or []:
        label = ((option.get("Label") or {}).get("UserLocalizedLabel") or {}).get("Label")
        options[int(option["Value"])] = str(label)
    return Column(str(attribute["LogicalName"]), kind or str(attribute.get("AttributeType") or ""),
                  options, tuple(attribute.get("Targets") or ()), attribute.get("MaxLength"),
                  not attribute.get("IsValidForUpdate", True)
                  and not attribute.get("IsValidForCreate", True))
