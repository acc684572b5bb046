"""``EntityDefinitions``: enough table metadata for clients to discover tables and keys.

``EntityDefinitions`` lists tables (``$select`` and a simple ``$filter`` such as
``ChangeTrackingEnabled eq true`` work); ``EntityDefinitions(LogicalName='contact')`` or
``EntityDefinitions(<MetadataId>)`` returns one, with ``$expand=Attributes,Keys`` (and
``ManyToOneRelationships``, whose ``ReferencingEntityNavigationPropertyName`` names lookups).
"""

from __future__ import annotations

import uuid
from typing import Any

from odata_query import ast, exceptions
from odata_query.grammar import ODataLexer, ODataParser

from emulator.dataverse import errors
from emulator.dataverse.schema import Attribute, AttributeType, Table
from emulator.dataverse.tables import Catalog
from emulator.dataverse.urls import parse_key

_NAMESPACE = uuid.UUID("6f1c2b1e-6a59-4a44-9a0f-2d6c0e0d7a11")


def metadata_id(*names: str) -> str:
    """Stable ids, so a client may cache them across emulator restarts."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(names)))


def attribute_definition(table: Table, attr: Attribute) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "MetadataId": metadata_id(table.logical_name, attr.name),
        "LogicalName": attr.name,
        "SchemaName": attr.name,
        "AttributeType": attr.type.value,
        "AttributeTypeName": {"Value": f"{attr.type.value}Type"},
        "IsPrimaryId": attr.name == table.primary_id,
        "IsPrimaryName": attr.name == table.primary_name,
        "IsValidForCreate": not attr.read_only or attr.name == table.primary_id,
        "IsValidForUpdate": not attr.read_only,
    }
    if attr.max_length is not None:
        definition["MaxLength"] = attr.max_length
    if attr.type is AttributeType.LOOKUP:
        definition["Targets"] = list(attr.targets)
    if attr.type.is_option_set:
        definition["OptionSet"] = {"Options": [_option(table, attr, v, label)
                                               for v, label in attr.options.items()]}
    return definition


def _option(table: Table, attr: Attribute, value: int, label: str) -> dict[str, Any]:
    option: dict[str, Any] = {"Value": value, "Label": {"UserLocalizedLabel": {"Label": label}}}
    if attr.type is AttributeType.STATE:  # StateOptionMetadata
        option["DefaultStatus"] = table.default_status(value)
        option["InvariantName"] = label.replace(" ", "")
    if attr.type is AttributeType.STATUS:  # StatusOptionMetadata
        option["State"] = attr.option_states.get(value)
    return option


def entity_definition(table: Table, expand: set[str]) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "MetadataId": metadata_id(table.logical_name),
        "LogicalName": table.logical_name,
        "SchemaName": table.schema_name,
        "EntitySetName": table.entity_set,
        "LogicalCollectionName": table.entity_set,
        "PrimaryIdAttribute": table.primary_id,
        "PrimaryNameAttribute": table.primary_name,
        "ChangeTrackingEnabled": table.change_tracking,
        "CanChangeTrackingBeEnabled": {"Value": True},
        "IsCustomEntity": "_" in table.logical_name,
    }
    if "Attributes" in expand:
        definition["Attributes"] = [attribute_definition(table, a)
                                    for a in table.attributes.values()]
    if "Keys" in expand:
        definition["Keys"] = [{
            "MetadataId": metadata_id(table.logical_name, "key", k.name),
            "LogicalName": k.name, "SchemaName": k.name, "KeyAttributes": list(k.attributes),
            "EntityKeyIndexStatus": "Active"} for k in table.keys]
    if "ManyToOneRelationships" in expand:
        definition["ManyToOneRelationships"] = many_to_one(table)
    return definition


def many_to_one(table: Table) -> list[dict[str, Any]]:
    """One relationship per lookup target, naming the single-valued navigation property."""
    return [{"MetadataId": metadata_id(table.logical_name, "rel", nav),
             "SchemaName": f"{table.logical_name}_{nav}", "ReferencingEntity": table.logical_name,
             "ReferencingAttribute": attr.name, "ReferencedEntity": target,
             "ReferencingEntityNavigationPropertyName": nav}
            for attr in table.lookups() for nav, target in attr.navigation_names().items()]


def find_table(catalog: Catalog, key_text: str) -> Table:
    key = parse_key(key_text)
    for table in catalog.tables():
        if key.record_id == metadata_id(table.logical_name) or (
                key.values and key.values.get("LogicalName") == table.logical_name):
            return table
    raise errors.DataverseError(404, errors.OBJECT_DOES_NOT_EXIST, (
        f"Could not find an entity with key value '{key_text}'."))


def definitions(catalog: Catalog, key_text: str | None, query: dict[str, str],
                service_root: str) -> dict[str, Any]:
    expand = {e.strip() for e in query.get("$expand", "").split(",") if e.strip()}
    unknown = expand - {"Attributes", "Keys", "ManyToOneRelationships"}
    if unknown:
        raise errors.bad_query(f"Could not find a property named '{sorted(unknown)[0]}' on "
                               "type 'Microsoft.Dynamics.CRM.EntityMetadata'.")
    select = [s.strip() for s in query.get("$select", "").split(",") if s.strip()]
    context = f"{service_root}/$metadata#EntityDefinitions"
    if key_text is not None:
        one = _selected(entity_definition(find_table(catalog, key_text), expand), select, expand)
        return {"@odata.context": context + "/$entity", **one}
    rows = [entity_definition(t, expand) for t in catalog.tables()]
    if query.get("$filter"):
        tree = _parse(query["$filter"])
        rows = [r for r in rows if _evaluate(tree, r)]
    return {"@odata.context": context, "value": [_selected(r, select, expand) for r in rows]}


def _selected(row: dict[str, Any], select: list[str], expand: set[str]) -> dict[str, Any]:
    if not select:
        return row
    keep = {*select, *expand, "MetadataId"}
    return {k: v for k, v in row.items() if k in keep}


def _parse(text: str) -> ast._Node:
    try:
        return ODataParser().parse(ODataLexer().tokenize(text))
    except exceptions.ODataException:
        raise errors.bad_query(f"Syntax error in $filter '{text}'.") from None


def _evaluate(node: ast._Node, row: dict[str, Any]) -> Any:
    """A tiny interpreter for eq/ne/and/or/not over metadata properties."""
    if isinstance(node, ast.BoolOp):
        left, right = _evaluate(node.left, row), _evaluate(node.right, row)
        return (left and right) if isinstance(node.op, ast.And) else (left or right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _evaluate(node.operand, row)
    if isinstance(node, ast.Compare) and isinstance(node.comparator, ast.Eq | ast.NotEq):
        equal = _evaluate(node.left, row) == _evaluate(node.right, row)
        return equal if isinstance(node.comparator, ast.Eq) else not equal
    if isinstance(node, ast.Identifier):
        return row.get(node.name)
    if isinstance(node, ast.Attribute):
        owner = _evaluate(node.owner, row)
        return owner.get(node.attr) if isinstance(owner, dict) else None
    if isinstance(node, ast._Literal):
        return node.py_val
    raise errors.bad_query("Only eq, ne, and, or and not are supported on EntityDefinitions.")
