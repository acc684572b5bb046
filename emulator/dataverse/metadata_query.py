"""``$select``, ``$filter`` and ``$expand`` over metadata nodes, checked against their types.

A query addresses a *declared* type (``AttributeMetadata`` under ``/Attributes``,
``PicklistAttributeMetadata`` after the cast): ``$select`` and ``$filter`` may name only its
properties, ``$expand`` only its navigation properties, otherwise Dataverse's 400 "Could not
find a property named 'X' on type 'Microsoft.Dynamics.CRM.<Type>'". Items whose own type is
more derived carry ``@odata.type`` and all their own properties (without ``$select``).
Nested options inside ``$expand=Nav(…)`` are separated by ``;`` and may themselves contain
commas and parentheses. Enum literals (``Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'``)
compare as their member names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from odata_query import ast, exceptions
from odata_query.grammar import ODataLexer, ODataParser

from emulator.dataverse import errors
from emulator.dataverse.metadata_model import Node
from emulator.dataverse.metadata_types import MetaType, derives_from, meta_type
from emulator.dataverse.urls import split_outside_quotes

# The declared type of each navigation property's targets.
NAVIGATION_TYPES = {
    "Attributes": "AttributeMetadata", "Keys": "EntityKeyMetadata",
    "ManyToOneRelationships": "OneToManyRelationshipMetadata",
    "OneToManyRelationships": "OneToManyRelationshipMetadata",
    "ManyToManyRelationships": "ManyToManyRelationshipMetadata",
    "OptionSet": "OptionSetMetadata", "GlobalOptionSet": "OptionSetMetadata",
}


def navigation_type(owner: MetaType, name: str) -> MetaType:
    """The declared type of ``owner``'s navigation property ``name``: a Boolean column's
    option set is a ``BooleanOptionSetMetadata`` (TrueOption/FalseOption), others have
    ``Options``."""
    if name in ("OptionSet", "GlobalOptionSet") and owner.name == "BooleanAttributeMetadata":
        return meta_type("BooleanOptionSetMetadata")
    return meta_type(NAVIGATION_TYPES[name])
NESTED_OPTIONS = frozenset({"$select", "$filter", "$expand"})
TOP_OPTIONS = NESTED_OPTIONS
_ENUM_LITERAL = re.compile(r"Microsoft\.Dynamics\.CRM\.[A-Za-z]+'([^']*)'")
_LABEL_PROPERTIES = frozenset({"DisplayName", "Description", "DisplayCollectionName"})


@dataclass(frozen=True)
class Expansion:
    name: str
    query: MetaQuery


@dataclass(frozen=True)
class MetaQuery:
    select: tuple[str, ...] | None = None
    filter: str | None = None
    expand: tuple[Expansion, ...] = ()

    @classmethod
    def parse(cls, options: dict[str, str], allowed: frozenset[str] = TOP_OPTIONS) -> MetaQuery:
        for name in options:
            if name not in allowed:
                raise errors.bad_query(f"The query parameter {name} is not supported for "
                                       "metadata queries.")
        select = options.get("$select")
        return cls(tuple(s.strip() for s in select.split(",") if s.strip()) if select else None,
                   options.get("$filter") or None, parse_expand(options.get("$expand")))


def parse_expand(text: str | None) -> tuple[Expansion, ...]:
    """``Attributes($select=LogicalName,AttributeType;$filter=…),Keys`` -> two expansions."""
    if not text:
        return ()
    items = []
    for item in split_outside_quotes(text, ","):
        name, paren, rest = item.strip().partition("(")
        if paren and not rest.endswith(")"):
            raise errors.bad_query(f"Syntax error in $expand at '{item.strip()}'.")
        items.append(Expansion(name.strip(), MetaQuery.parse(
            _nested(rest[:-1]) if paren else {}, NESTED_OPTIONS)))
    return tuple(items)


def _nested(text: str) -> dict[str, str]:
    options = {}
    for part in split_outside_quotes(text, ";"):
        key, sep, value = part.partition("=")
        if not sep:
            raise errors.bad_query(f"Syntax error in $expand options '{text}'.")
        options[key.strip()] = value.strip()
    return options


def unknown_property(name: str, declared: MetaType) -> errors.DataverseError:
    return errors.bad_query(f"Could not find a property named '{name}' on type "
                            f"'{declared.qualified}'.")


def check(query: MetaQuery, declared: MetaType) -> None:
    """Every name the query uses exists on ``declared`` (recursively for expansions)."""
    for name in query.select or ():
        if name not in declared.properties and name not in declared.navigations:
            raise unknown_property(name, declared)
    for item in query.expand:
        if item.name not in declared.navigations:
            raise unknown_property(item.name, declared)
        check(item.query, navigation_type(declared, item.name))


def render(node: Node, declared: MetaType, query: MetaQuery) -> dict[str, Any]:
    """One node as JSON: selected properties (all of its own without ``$select``) and the
    expanded navigations."""
    body: dict[str, Any] = {}
    if node.type.name != declared.name:
        body["@odata.type"] = "#" + node.type.qualified
    if query.select is None:
        body.update(node.props)
    else:
        body.update({k: node.props[k] for k in query.select if k in node.props})
        body["MetadataId"] = node.props["MetadataId"]
    for item in query.expand:
        body[item.name] = _expanded(node, declared, item)
    return body


def _expanded(node: Node, declared: MetaType, item: Expansion) -> Any:
    target = navigation_type(declared, item.name)
    value = node.navs[item.name]() if item.name in node.navs else None
    if isinstance(value, list):
        return [render(n, target, item.query) for n in apply_filter(value, target,
                                                                     item.query.filter)]
    return None if value is None else render(value, target, item.query)


def cast(nodes: list[Node], declared: MetaType, type_name: str) -> tuple[list[Node], MetaType]:
    """The nodes of a collection that are of ``type_name`` (a qualified cast segment)."""
    target = _cast_target(declared, type_name)
    return [n for n in nodes if derives_from(n.type.name, target.name)], target


def cast_one(node: Node, declared: MetaType, type_name: str) -> MetaType:
    target = _cast_target(declared, type_name)
    if not derives_from(node.type.name, target.name):
        raise errors.unknown_segment(type_name)
    return target


def _cast_target(declared: MetaType, type_name: str) -> MetaType:
    try:
        target = meta_type(type_name)
    except KeyError:
        raise errors.unknown_segment(type_name) from None
    if not target.castable or not derives_from(target.name, declared.name):
        raise errors.bad_query(f"The type '{target.qualified}' cannot be used to cast "
                               f"'{declared.qualified}'.")
    return target


def apply_filter(nodes: list[Node], declared: MetaType, text: str | None) -> list[Node]:
    if not text:
        return nodes
    tree = _parse(text)
    return [n for n in nodes if _evaluate(tree, n.props, declared) is True]


def _parse(text: str) -> ast._Node:
    plain = _ENUM_LITERAL.sub(lambda m: "'" + m.group(1) + "'", text)
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(plain))
    except exceptions.ODataException:
        raise errors.bad_query(f"Syntax error in $filter '{text}'.") from None
    if tree is None:
        raise errors.bad_query(f"Syntax error in $filter '{text}'.")
    return tree


_COMPARE = {ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
            ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
            ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b}


def _evaluate(node: ast._Node, row: dict[str, Any], declared: MetaType) -> Any:
    if isinstance(node, ast.BoolOp):
        left = _evaluate(node.left, row, declared) is True
        right = _evaluate(node.right, row, declared) is True
        return (left and right) if isinstance(node.op, ast.And) else (left or right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _evaluate(node.operand, row, declared) is not True
    if isinstance(node, ast.Compare) and type(node.comparator) in _COMPARE:
        left = _evaluate(node.left, row, declared)
        right = _evaluate(node.right, row, declared)
        if type(node.comparator) not in (ast.Eq, ast.NotEq) and (left is None or right is None):
            return False
        return _COMPARE[type(node.comparator)](left, right)
    if isinstance(node, ast.Identifier):
        return _property(node.name, row, declared)
    if isinstance(node, ast.Attribute):
        owner = _evaluate(node.owner, row, declared)
        if not isinstance(owner, dict) or node.attr not in owner:
            raise errors.bad_query(f"Could not find a property named '{node.attr}' on the "
                                   f"complex value of '{_name(node.owner)}'.")
        return owner[node.attr]
    if isinstance(node, ast._Literal):
        return node.py_val
    raise errors.bad_query("Metadata $filter supports eq, ne, gt, ge, lt, le, and, or and not.")


def _property(name: str, row: dict[str, Any], declared: MetaType) -> Any:
    if name not in declared.properties:
        raise unknown_property(name, declared)
    if name in _LABEL_PROPERTIES:
        raise errors.bad_query(f"The property '{name}' is a Label and cannot be used in "
                               "$filter.")
    return row.get(name)


def _name(node: ast._Node) -> str:
    return node.name if isinstance(node, ast.Identifier) else "?"
