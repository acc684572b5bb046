"""``$filter`` -> a SQLite WHERE clause, with ``odata-query`` doing the parsing.

:class:`DataverseFilterVisitor` extends the package's SQLite visitor only where Dataverse
differs: names are checked against the table (lookups as ``_x_value``, related values as
``primarycontactid/fullname``); every literal becomes a named parameter, so no quote in a
value can bend the SQL; GUIDs are bare literals; datetimes, quoted or not, compare as epoch
seconds; ``contains``/``startswith``/``endswith`` escape LIKE wildcards. String comparison
is case-insensitive through the columns' NOCASE collation (and LIKE's own ASCII folding).
"""

from __future__ import annotations

from itertools import count
from typing import Any

from odata_query import ast, exceptions
from odata_query.grammar import ODataLexer, ODataParser
from odata_query.sql import AstToSqliteSqlVisitor

from emulator.dataverse import errors
from emulator.dataverse.schema import Attribute, AttributeType, Table
from emulator.dataverse.tables import Catalog
from emulator.dataverse.timestamps import parse_datetime

_aliases = count(1)


class DataverseFilterVisitor(AstToSqliteSqlVisitor):
    def __init__(self, table: Table, alias: str, catalog: Catalog,
                 params: dict[str, Any]) -> None:
        super().__init__(table_alias=alias)
        self.table = table
        self.catalog = catalog
        self.params = params

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

    def sqlfunc_contains(self, *args: ast._Node) -> str:
        return self._like(args, "%", "%")

    def sqlfunc_startswith(self, *args: ast._Node) -> str:
        return self._like(args, "", "%")

    def sqlfunc_endswith(self, *args: ast._Node) -> str:
        return self._like(args, "%", "")


def filter_sql(text: str, table: Table, alias: str, catalog: Catalog,
               params: dict[str, Any]) -> str:
    """The WHERE clause for ``$filter=text``; literals are added to ``params``."""
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(text))
        if tree is None:
            raise exceptions.ParsingException(None, eof=True)
        return str(DataverseFilterVisitor(table, alias, catalog, params).visit(tree))
    except exceptions.ODataSyntaxError as exc:
        position = getattr(getattr(exc, "token", None), "index", len(text))
        raise errors.bad_query(f"Syntax error at position {position} in '{text}'.") from None
    except exceptions.ODataException as exc:
        raise errors.bad_query(f"Invalid $filter '{text}': {exc}") from None
    except ValueError as exc:
        raise errors.bad_query(f"Invalid literal in $filter '{text}': {exc}") from None
