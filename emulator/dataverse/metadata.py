"""Metadata requests: ``EntityDefinitions``, ``RelationshipDefinitions`` and
``GlobalOptionSetDefinitions``, with every sub-path a client walks (reference: "Query table
definitions using the Web API", "Retrieve table definitions by name or MetadataId").

``EntityDefinitions(LogicalName='account')`` (or ``(<MetadataId>)``) is one table;
``/Attributes``, ``/Attributes(LogicalName='name')``, ``/Keys``, ``/ManyToOneRelationships``,
``/OneToManyRelationships`` and ``/ManyToManyRelationships`` its parts; a
``Microsoft.Dynamics.CRM.<Type>`` segment casts (``…/Attributes/Microsoft.Dynamics.CRM.
PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)``), and
``…/OptionSet`` addresses a cast column's option set. Option sets are only reachable through
such a cast, as in Dataverse. Queries are evaluated by :mod:`.metadata_query`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.dataverse import errors
from emulator.dataverse.metadata_model import Node, entity_node, relationship_nodes
from emulator.dataverse.metadata_query import (
    MetaQuery,
    apply_filter,
    cast,
    cast_one,
    check,
    navigation_type,
    render,
)
from emulator.dataverse.metadata_types import NAMESPACE, MetaType, meta_type, metadata_id
from emulator.dataverse.tables import Catalog
from emulator.dataverse.urls import Segment, parse_key

ROOTS = frozenset({"EntityDefinitions", "RelationshipDefinitions",
                   "GlobalOptionSetDefinitions"})
__all__ = ["ROOTS", "metadata_id", "respond"]


@dataclass
class Position:
    """Where a path has led: one node or a collection, of a declared type."""

    declared: MetaType
    path: str  # for @odata.context
    one: Node | None = None
    many: list[Node] | None = None
    property: str | None = None  # a structural property addressed by path


def respond(catalog: Catalog, segments: list[Segment], query: dict[str, str],
            service_root: str) -> dict[str, Any]:
    """The JSON answer to a GET of a metadata path."""
    position = _root(catalog, segments[0])
    for segment in segments[1:]:
        position = _step(position, segment)
    options = MetaQuery.parse(query)
    check(options, position.declared)
    context = f"{service_root}/$metadata#{position.path}"
    if position.property is not None:
        assert position.one is not None
        return {"@odata.context": context, "value": position.one.props[position.property]}
    if position.many is not None:
        nodes = apply_filter(position.many, position.declared, options.filter)
        return {"@odata.context": context,
                "value": [render(n, position.declared, options) for n in nodes]}
    assert position.one is not None
    if options.filter:
        raise errors.bad_query("The query option $filter applies to collections only.")
    return {"@odata.context": context + "/$entity",
            **render(position.one, position.declared, options)}


def _root(catalog: Catalog, segment: Segment) -> Position:
    if segment.name == "EntityDefinitions":
        nodes = [entity_node(catalog, t) for t in catalog.tables()]
        return _keyed(Position(meta_type("EntityMetadata"), "EntityDefinitions", many=nodes),
                      segment.key, ("LogicalName",), "an entity")
    if segment.name == "RelationshipDefinitions":
        position = Position(meta_type("RelationshipMetadataBase"), "RelationshipDefinitions",
                            many=relationship_nodes(catalog))
        return _keyed(position, segment.key, ("SchemaName",), "a relationship")
    position = Position(meta_type("OptionSetMetadataBase"), "GlobalOptionSetDefinitions",
                        many=[])  # every option set here is local to its column
    return _keyed(position, segment.key, ("Name",), "an option set")


def _keyed(position: Position, key: str | None, names: tuple[str, ...],
           what: str) -> Position:
    """The collection, or with ``key`` (a MetadataId or ``Name='…'``) the one it names."""
    if key is None:
        return position
    assert position.many is not None
    parsed = parse_key(key)
    values = parsed.values or {}
    unknown = [name for name in values if name not in names]
    if unknown:
        raise errors.bad_query(f"'{unknown[0]}' is not a key of {position.declared.qualified}.")
    for node in position.many:
        if node.id == parsed.record_id or any(node.props.get(n) == v for n, v in values.items()):
            return Position(position.declared, f"{position.path}({node.id})", one=node)
    raise errors.DataverseError(404, errors.OBJECT_DOES_NOT_EXIST, (
        f"Could not find {what} with key value '{key}'."))


def _step(position: Position, segment: Segment) -> Position:
    if segment.name.startswith(NAMESPACE):
        return _cast(position, segment)
    node = position.one
    if node is None:
        raise errors.unknown_segment(segment.name)
    if segment.name in position.declared.navigations and segment.name in node.navs:
        return _navigate(position, node, segment)
    if segment.name in position.declared.properties and segment.key is None \
            and position.property is None:
        return Position(position.declared, f"{position.path}/{segment.name}", one=node,
                        property=segment.name)
    raise errors.unknown_segment(segment.name)


def _cast(position: Position, segment: Segment) -> Position:
    path = f"{position.path}/{segment.name}"
    if position.many is not None:
        nodes, declared = cast(position.many, position.declared, segment.name)
        return _keyed(Position(declared, path, many=nodes), segment.key,
                      ("LogicalName", "SchemaName"), "an attribute")
    assert position.one is not None
    declared = cast_one(position.one, position.declared, segment.name)
    return Position(declared, path, one=position.one)


def _navigate(position: Position, node: Node, segment: Segment) -> Position:
    declared = navigation_type(position.declared, segment.name)
    value = node.navs[segment.name]()
    path = f"{position.path}/{segment.name}"
    if isinstance(value, list):
        names = ("SchemaName",) if "Relationship" in segment.name else ("LogicalName",)
        return _keyed(Position(declared, path, many=value), segment.key, names, "an item")
    if value is None:
        raise errors.DataverseError(404, errors.OBJECT_DOES_NOT_EXIST, (
            f"The navigation property '{segment.name}' has no value."))
    return Position(declared, path, one=value)

