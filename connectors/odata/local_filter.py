"""An OData ``$filter`` evaluated on rows already fetched, as the service would evaluate it.

A table feed reads each change once for every recipe watching the table and hands each
recipe the rows that match *its* ``filter``; that is only right if the local answer equals
the service's. So this covers exactly the subset whose semantics are plain — comparisons of
a column with a literal (``eq ne gt ge lt le``), ``and``/``or``/``not``, ``contains``,
``startswith``, ``endswith`` — with Dataverse's rules:

* strings compare case-insensitively (the database collation), GUIDs in any case;
* datetimes compare as instants, whatever the text form;
* SQL's three-valued logic: a comparison with a null column is *unknown* (only ``eq null`` /
  ``ne null`` test for null), ``not unknown`` is unknown, and only a *true* row matches.

Anything else — related columns (``primarycontactid/fullname``), query functions
(``Microsoft.Dynamics.CRM.LastXDays``), arithmetic, ``in`` — raises :class:`NotLocal`, and
the recipe keeps querying the service itself. Parsing is ``odata-query``'s.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from odata_query import ast, exceptions
from odata_query.grammar import ODataLexer, ODataParser

Row = Mapping[str, Any]
Truth = bool | None  # None: unknown (SQL's NULL truth value)
Test = Callable[[Row], Truth]

_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le}
_SWAPPED: dict[type, type] = {ast.Gt: ast.Lt, ast.GtE: ast.LtE, ast.Lt: ast.Gt,
                              ast.LtE: ast.GtE, ast.Eq: ast.Eq, ast.NotEq: ast.NotEq}
_TEXT_FUNCTIONS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda value, part: part in value,
    "startswith": str.startswith,
    "endswith": str.endswith,
}


class NotLocal(Exception):
    """The filter needs the service: it uses something not evaluated here (the message
    says what)."""


class LocalFilter:
    """A compiled filter: call it with a row; ``columns`` are the columns it reads."""

    def __init__(self, text: str) -> None:
        try:
            tree = ODataParser().parse(ODataLexer().tokenize(text))
        except exceptions.ODataException as exc:
            raise NotLocal(f"the filter does not parse here ({exc})") from None
        self.columns: set[str] = set()
        self._test = self._compile(tree)

    def __call__(self, row: Row) -> bool:
        return self._test(row) is True

    def _compile(self, node: ast._Node) -> Test:
        match node:
            case ast.BoolOp(op=ast.And(), left=left, right=right):
                return _and(self._compile(left), self._compile(right))
            case ast.BoolOp(op=ast.Or(), left=left, right=right):
                return _or(self._compile(left), self._compile(right))
            case ast.UnaryOp(op=ast.Not(), operand=operand):
                return _not(self._compile(operand))
            case ast.Compare(comparator=comparator, left=left, right=right):
                return self._comparison(comparator, left, right)
            case ast.Call(func=ast.Identifier(name=name, namespace=()), args=[column, ast.String(
                    val=part)]) if name in _TEXT_FUNCTIONS:
                return self._text_function(name, column, part)
        raise NotLocal(f"{_describe(node)} is evaluated by the service only")

    def _comparison(self, comparator: ast._Comparator, left: ast._Node,
                    right: ast._Node) -> Test:
        if type(comparator) not in _COMPARE:
            raise NotLocal(f"the operator {type(comparator).__name__.lower()} is evaluated by "
                           "the service only")
        if isinstance(right, ast.Identifier) and not isinstance(left, ast.Identifier):
            # 5 lt revenue: turn it round
            left, right, comparator = right, left, _SWAPPED[type(comparator)]()
        column, literal = self._column(left), _literal(right)
        compare = _COMPARE[type(comparator)]
        if literal is None:
            if type(comparator) not in (ast.Eq, ast.NotEq):
                raise NotLocal("only eq and ne compare with null")
            wanted = type(comparator) is ast.Eq
            return lambda row: (row.get(column) is None) == wanted
        return lambda row: _compared(compare, row.get(column), literal)

    def _text_function(self, name: str, column_node: ast._Node, part: str) -> Test:
        column, test = self._column(column_node), _TEXT_FUNCTIONS[name]
        folded = part.casefold()

        def check(row: Row) -> Truth:
            value = row.get(column)
            return None if value is None else test(str(value).casefold(), folded)
        return check

    def _column(self, node: ast._Node) -> str:
        if isinstance(node, ast.Identifier) and not node.namespace:
            self.columns.add(node.name)
            return node.name
        raise NotLocal(f"{_describe(node)} is evaluated by the service only")


def _and(left: Test, right: Test) -> Test:
    def test(row: Row) -> Truth:
        a, b = left(row), right(row)
        if a is False or b is False:
            return False
        return None if a is None or b is None else True
    return test


def _or(left: Test, right: Test) -> Test:
    def test(row: Row) -> Truth:
        a, b = left(row), right(row)
        if a is True or b is True:
            return True
        return None if a is None or b is None else False
    return test


def _not(inner: Test) -> Test:
    def test(row: Row) -> Truth:
        value = inner(row)
        return None if value is None else not value
    return test


def _literal(node: ast._Node) -> Any:
    match node:
        case ast.Null():
            return None
        case ast.String(val=text):
            return _Text(text)
        case ast.Integer(val=text):
            return int(text)
        case ast.Float(val=text):
            return float(text)
        case ast.Boolean(val=text):
            return text.lower() == "true"
        case ast.GUID(val=text):
            return _Text(text)
        case ast.DateTime(val=text):
            return _instant(text)
        case ast.Date(val=text):
            return date.fromisoformat(text)
    raise NotLocal(f"{_describe(node)} is not a literal evaluated here")


class _Text(str):
    """A string literal: compared without regard to case, as Dataverse does."""


def _compared(compare: Callable[[Any, Any], bool], value: Any, literal: Any) -> Truth:
    if value is None:
        return None
    try:
        return compare(*_comparable(value, literal))
    except TypeError:
        return False  # a type the service would have refused; never a match


def _comparable(value: Any, literal: Any) -> tuple[Any, Any]:
    if isinstance(literal, _Text):
        return str(value).casefold(), literal.casefold()
    if isinstance(literal, datetime):
        return _instant(str(value)), literal
    if isinstance(literal, date):
        return date.fromisoformat(str(value)[:10]), literal
    if isinstance(literal, bool):
        return bool(value), literal
    return value, literal


def _instant(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _describe(node: ast._Node) -> str:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Identifier):
        return f"the function {'.'.join([*node.func.namespace, node.func.name])}"
    if isinstance(node, ast.Attribute):
        return "a related column (x/y)"
    if isinstance(node, ast.BinOp):
        return "arithmetic"
    return f"{type(node).__name__}"
