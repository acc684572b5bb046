"""``$filter`` -> a SQLite WHERE clause, the way F&O reads it (reference §9).

``odata-query`` parses; :class:`FoFilterVisitor` checks names against the entity, binds every
literal as a parameter, and applies F&O's rules:

* enum literals ``Microsoft.Dynamics.DataEntities.NoYes'Yes'`` (which the parser does not
  know: :func:`extract_enums` swaps them for placeholders first) compare with ``eq``/``ne``
  only; any other operator, a plain string against an enum field, or an unknown member is
  refused with the ODataLib error text [I: message wording from ODataLib's resources];
* ``*`` in a string compared with ``eq``/``ne`` is a wildcard (``'*retail*'`` = contains);
* ``has`` and ``in`` are not supported, nor are functions (``contains(…)``) [I];
* datetimes compare as epoch seconds; strings compare case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from odata_query import ast, exceptions
from odata_query.grammar import ODataLexer, ODataParser
from odata_query.sql import AstToSqliteSqlVisitor

from emulator.fo import errors
from emulator.fo.entities import NAMESPACE, Entity, EntityField, FieldType
from emulator.fo.payload import parse_datetime

_SCAN = re.compile(
    r"(?P<enum>\b(?P<ns>(?:[A-Za-z_]\w*\.)+)(?P<type>[A-Za-z_]\w*)'(?P<member>[^']*)')"
    r"|(?P<string>'(?:[^']|'')*')"
    r"|(?P<has>\bhas\b)")
_PLACEHOLDER = "\x00fo-enum-{}\x00"
_OPERATOR_KINDS = {ast.Eq: "Equal", ast.NotEq: "NotEqual", ast.Gt: "GreaterThan",
                   ast.GtE: "GreaterThanOrEqual", ast.Lt: "LessThan",
                   ast.LtE: "LessThanOrEqual", ast.In: "In"}
_EDM_TYPES = {FieldType.STRING: "Edm.String", FieldType.INT: "Edm.Int32",
              FieldType.REAL: "Edm.Decimal", FieldType.DATETIME: "Edm.DateTimeOffset"}


@dataclass(frozen=True)
class EnumLiteral:
    namespace: str
    type_name: str
    member: str

    @property
    def full_type(self) -> str:
        return f"{self.namespace}.{self.type_name}"


def extract_enums(text: str) -> tuple[str, dict[str, EnumLiteral]]:
    """``text`` with each enum literal replaced by a placeholder string literal."""
    literals: dict[str, EnumLiteral] = {}

    def swap(match: re.Match[str]) -> str:
        if match.group("has"):
            raise errors.bad_query("The 'has' operator is not supported.")
        if not match.group("enum"):
            return match.group(0)
        placeholder = _PLACEHOLDER.format(len(literals))
        literals[placeholder] = EnumLiteral(match.group("ns").rstrip("."), match.group("type"),
                                            match.group("member"))
        return f"'{placeholder}'"

    return _SCAN.sub(swap, text), literals


class FoFilterVisitor(AstToSqliteSqlVisitor):
    def __init__(self, entity: Entity, alias: str, enums: Mapping[str, Mapping[str, int]],
                 literals: Mapping[str, EnumLiteral], params: dict[str, Any]) -> None:
        super().__init__(table_alias=alias)
        self.entity = entity
        self.enums = enums
        self.literals = literals
        self.params = params

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def field_of(self, node: ast._Node) -> EntityField | None:
        return self.entity.field(node.name) if isinstance(node, ast.Identifier) else None

    def enum_of(self, node: ast._Node) -> EnumLiteral | None:
        return self.literals.get(node.val) if isinstance(node, ast.String) else None

    def type_name(self, node: ast._Node) -> str:
        literal = self.enum_of(node)
        if literal is not None:
            return literal.full_type
        found = self.field_of(node)
        if found is not None:
            return f"{NAMESPACE}.{found.enum}" if found.enum else _EDM_TYPES[found.type]
        names = {ast.String: "Edm.String", ast.Integer: "Edm.Int32", ast.Float: "Edm.Double",
                 ast.DateTime: "Edm.DateTimeOffset", ast.Date: "Edm.Date",
                 ast.Boolean: "Edm.Boolean"}
        return names.get(type(node), "Edm.Untyped")

    def visit_Identifier(self, node: ast.Identifier) -> str:
        if node.namespace or self.entity.field(node.name) is None:
            raise errors.unknown_property(node.full_name(), self.entity.edm_type)
        return f'{self.table_alias}."{node.name}"'

    def visit_String(self, node: ast.String) -> str:
        if node.val in self.literals:  # an enum literal outside a comparison with a field
            raise self.incompatible(node, node, ast.Eq())
        return self.param(node.val)

    def visit_DateTime(self, node: ast.DateTime) -> str:
        return self.param(parse_datetime(node.val))

    def visit_Date(self, node: ast.Date) -> str:
        return self.param(parse_datetime(node.val + "T00:00:00Z"))

    def visit_Call(self, node: ast.Call) -> str:
        raise errors.bad_query(f"The function '{node.func.name}' is not supported; "
                               "use eq with '*' wildcards, e.g. Name eq '*retail*'.")

    def visit_Compare(self, node: ast.Compare) -> str:
        if isinstance(node.comparator, ast.In):
            raise errors.bad_query("The 'in' operator is not supported.")
        left, right = node.left, node.right
        if self._is_enum(left) or self._is_enum(right):
            return self.enum_compare(node)
        self.check_types(node)
        for column, literal in ((left, right), (right, left)):
            found = self.field_of(column)
            if (found is not None and found.type is FieldType.STRING
                    and isinstance(literal, ast.String) and "*" in literal.val
                    and isinstance(node.comparator, ast.Eq | ast.NotEq)):
                return self.wildcard(column, literal, isinstance(node.comparator, ast.NotEq))
        return str(super().visit_Compare(node))

    def _is_enum(self, node: ast._Node) -> bool:
        found = self.field_of(node)
        return self.enum_of(node) is not None or (found is not None and found.enum is not None)

    def enum_compare(self, node: ast.Compare) -> str:
        left, right = node.left, node.right
        if not isinstance(node.comparator, ast.Eq | ast.NotEq):
            raise self.incompatible(left, right, node.comparator)
        if self.type_name(left) != self.type_name(right):
            raise self.incompatible(left, right, node.comparator)
        column, literal = (left, right) if self.field_of(left) else (right, left)
        enum_literal = self.enum_of(literal)
        if self.field_of(column) is None or enum_literal is None:
            raise self.incompatible(left, right, node.comparator)
        member = self.member(enum_literal)
        operator = "=" if isinstance(node.comparator, ast.Eq) else "!="
        return f"{self.visit(column)} {operator} {self.param(member)}"

    def member(self, literal: EnumLiteral) -> str:
        members = self.enums.get(literal.type_name)
        if literal.namespace != NAMESPACE or members is None:
            raise errors.bad_query(f"The type '{literal.full_type}' is not a known enum type.")
        if literal.member in members:
            return literal.member
        by_value = {str(v): k for k, v in members.items()}
        if literal.member in by_value:
            return by_value[literal.member]
        raise errors.bad_query(
            f"The string '{literal.member}' is not a valid enumeration type constant.")

    def check_types(self, node: ast.Compare) -> None:
        """Datetime fields compare only with datetime literals (no quoted strings)."""
        for column, literal in ((node.left, node.right), (node.right, node.left)):
            found = self.field_of(column)
            if (found is not None and found.type is FieldType.DATETIME
                    and isinstance(literal, ast.String)):
                raise self.incompatible(node.left, node.right, node.comparator)

    def incompatible(self, left: ast._Node, right: ast._Node,
                     comparator: ast._Node) -> errors.FoError:
        kind = _OPERATOR_KINDS.get(type(comparator), type(comparator).__name__)
        return errors.bad_query(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{self.type_name(left)}' and '{self.type_name(right)}' for operator kind "
            f"'{kind}'.")

    def wildcard(self, column: ast._Node, literal: ast.String, negate: bool) -> str:
        escaped = literal.val.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = self.param(escaped.replace("*", "%"))
        operator = "NOT LIKE" if negate else "LIKE"
        return f"{self.visit(column)} {operator} {pattern} ESCAPE '\\'"


def filter_sql(text: str, entity: Entity, alias: str, enums: Mapping[str, Mapping[str, int]],
               params: dict[str, Any]) -> str:
    """The WHERE clause for ``$filter=text``; literals are added to ``params``."""
    rewritten, literals = extract_enums(text)
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(rewritten))
        if tree is None:
            raise exceptions.ParsingException(None, eof=True)
        return str(FoFilterVisitor(entity, alias, enums, literals, params).visit(tree))
    except exceptions.ODataSyntaxError as exc:
        position = getattr(getattr(exc, "token", None), "index", len(text))
        raise errors.bad_query(f"Syntax error at position {position} in '{text}'.") from None
    except exceptions.ODataException as exc:
        raise errors.bad_query(f"Invalid $filter '{text}': {exc}") from None
    except ValueError as exc:
        raise errors.bad_query(f"Invalid literal in $filter '{text}': {exc}") from None
