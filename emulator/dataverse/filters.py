"""``$filter`` -> a SQLite WHERE clause, with ``odata-query`` doing the parsing.

:class:`DataverseFilterVisitor` extends the package's SQLite visitor only where Dataverse
differs: names are checked against the table (lookups as ``_x_value``, related values as
``primarycontactid/fullname``); every literal becomes a named parameter, so no quote in a
value can bend the SQL; GUIDs are bare literals; datetimes, quoted or not, compare as epoch
seconds; ``contains``/``startswith``/``endswith`` escape LIKE wildcards. String comparison
is case-insensitive through the columns' NOCASE collation (and LIKE's own ASCII folding).
"""

from __future__ import annotations

import re
import time
from itertools import count
from typing import Any

from odata_query import ast, exceptions
from odata_query.grammar import ODataLexer, ODataParser
from odata_query.sql import AstToSqliteSqlVisitor

from emulator.dataverse import errors, query_functions
from emulator.dataverse.schema import Attribute, AttributeType, Table
from emulator.dataverse.tables import Catalog
from emulator.dataverse.timestamps import parse_datetime

_aliases = count(1)


class DataverseFilterVisitor(AstToSqliteSqlVisitor):
    def __init__(self, table: Table, alias: str, catalog: Catalog,
                 params: dict[str, Any], now_s: float | None = None) -> None:
        super().__init__(table_alias=alias)
        self.table = table
        self.catalog = catalog
        self.params = params
        self.now_s = time.time() if now_s is None else now_s

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def attribute(self, node: ast._Node) -> Attribute | None:
        if isinstance(node, ast.Identifier):
            return self.table.attribute_by_column(node.name)
        if isinstance(node, ast.Attribute) and isinstance(node.owner, ast.Identifier):
            nav = self.table.navigation(node.owner.name)
            target = self.catalog.by_logical_name(nav.target) if nav else None
            return target.attribute_by_column(node.attr) if target else None
        return None

    def visit_Identifier(self, node: ast.Identifier) -> str:
        attr = self.table.attribute_by_column(node.name)
        if attr is None or node.namespace:
            raise errors.unknown_property(node.full_name(), self.table.logical_name)
        return f'{self.table_alias}."{attr.column}"'

    def visit_Attribute(self, node: ast.Attribute) -> str:
        owner = node.owner.name if isinstance(node.owner, ast.Identifier) else "?"
        nav = self.table.navigation(owner)
        if nav is None:
            raise errors.unknown_property(owner, self.table.logical_name)
        target = self.catalog.by_logical_name(nav.target)
        assert target is not None
        alias = f"f{next(_aliases)}"
        inner = DataverseFilterVisitor(target, alias, self.catalog, self.params)
        column = inner.visit(ast.Identifier(node.attr))
        attr = target.attribute_by_column(node.attr)
        # A subquery's value has no column collation; restore Dataverse's case-insensitivity.
        collate = " COLLATE NOCASE" if attr and attr.type.is_text else ""
        return (f'(SELECT {column} FROM {target.sql_table} AS {alias} WHERE {alias}."'
                f'{target.primary_id}" = {self.table_alias}."{nav.attribute.column}"){collate}')

    def visit_String(self, node: ast.String) -> str:
        return self.param(node.val)

    def visit_GUID(self, node: ast.GUID) -> str:
        return self.param(node.val.lower())

    def visit_DateTime(self, node: ast.DateTime) -> str:
        return self.param(parse_datetime(node.val))

    def visit_Date(self, node: ast.Date) -> str:
        return self.param(parse_datetime(node.val))

    def visit_Compare(self, node: ast.Compare) -> str:
        return super().visit_Compare(ast.Compare(
            node.comparator, self._as_datetime(node.left, node.right),
            self._as_datetime(node.right, node.left)))

    def _as_datetime(self, node: ast._Node, other: ast._Node) -> ast._Node:
        """A quoted string compared with a datetime column is read as a datetime."""
        attr = self.attribute(other)
        if isinstance(node, ast.String) and attr and attr.type is AttributeType.DATETIME:
            return ast.DateTime(node.val)
        return node

    def _like(self, args: tuple[ast._Node, ...], prefix: str, suffix: str) -> str:
        if len(args) != 2 or not isinstance(args[1], ast.String):
            raise errors.bad_query("The second argument must be a string literal.")
        escaped = args[1].val.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"{self.visit(args[0])} LIKE {self.param(prefix + escaped + suffix)} ESCAPE '\\'"

    def visit_Call(self, node: ast.Call) -> str:
        if node.func.namespace != query_functions.NAMESPACE:
            return str(super().visit_Call(node))
        name = node.func.name
        handler = query_functions.FUNCTIONS.get(name.lower())
        if handler is None:
            raise query_functions.unsupported(name)
        args = {a.name.name: a.param for a in node.args if isinstance(a, ast.NamedParam)}
        property_name = args.get("PropertyName")
        column_name = str(property_name.val) if isinstance(property_name, ast.String) else ""
        attr = (self.table.attributes.get(column_name)
                or self.table.attribute_by_column(column_name))
        if attr is None:
            raise errors.bad_query(f"{name} needs PropertyName='<a column of "
                                   f"{self.table.logical_name}>'.")
        column = f'{self.table_alias}."{attr.column}"'
        return handler(query_functions.FunctionCall(name, attr, column, args, self.param,
                                                    self.now_s))

    def sqlfunc_contains(self, *args: ast._Node) -> str:
        return self._like(args, "%", "%")

    def sqlfunc_startswith(self, *args: ast._Node) -> str:
        return self._like(args, "", "%")

    def sqlfunc_endswith(self, *args: ast._Node) -> str:
        return self._like(args, "%", "")


_LIST = re.compile(r"""('(?:[^']|'')*')|"([^"]*)"|\[|\]""")


def _lists_in_parentheses(text: str) -> str:
    """``PropertyValues=['a','b']`` or ``["5","2000"]`` (Dataverse's forms, the second as the
    docs write it) -> ``('a','b')`` (OData's list literal, which the parser reads); brackets
    inside string literals stay."""
    def swap(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(1)
        if match.group(2) is not None:
            return "'" + match.group(2).replace("'", "''") + "'"
        return "(" if match.group(0) == "[" else ")"
    return _LIST.sub(swap, text)


def filter_sql(text: str, table: Table, alias: str, catalog: Catalog,
               params: dict[str, Any], now_s: float | None = None) -> str:
    """The WHERE clause for ``$filter=text``; literals are added to ``params``."""
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(_lists_in_parentheses(text)))
        if tree is None:
            raise exceptions.ParsingException(None, eof=True)
        return str(DataverseFilterVisitor(table, alias, catalog, params, now_s).visit(tree))
    except exceptions.ODataSyntaxError as exc:
        position = getattr(getattr(exc, "token", None), "index", len(text))
        raise errors.bad_query(f"Syntax error at position {position} in '{text}'.") from None
    except exceptions.ODataException as exc:
        raise errors.bad_query(f"Invalid $filter '{text}': {exc}") from None
    except ValueError as exc:
        raise errors.bad_query(f"Invalid literal in $filter '{text}': {exc}") from None
