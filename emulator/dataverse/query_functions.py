"""Dataverse's query functions in ``$filter``: ``Microsoft.Dynamics.CRM.<Name>(PropertyName=
'col',PropertyValue=…)`` or ``PropertyValues=['a','b']`` (reference: "Filter rows", query
functions).

Supported: In, NotIn, Between, NotBetween, ContainValues, DoesNotContainValues (multi-select
columns), LastXHours, NextXHours, LastXDays, NextXDays, OlderThanXDays, Today, Yesterday,
Tomorrow, On, OnOrAfter, OnOrBefore, EqualUserId, NotEqualUserId. Days are UTC days of the
emulator clock. Any other function is a 400 naming it, never ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from odata_query import ast

from emulator.dataverse import errors
from emulator.dataverse.callers import CURRENT
from emulator.dataverse.schema import Attribute, AttributeType
from emulator.dataverse.timestamps import parse_datetime

T = AttributeType
NAMESPACE = ("Microsoft", "Dynamics", "CRM")
DAY_S = 86400


@dataclass
class FunctionCall:
    """One call, with what the visitor gives it: the column's SQL and a way to bind values."""

    name: str
    attr: Attribute
    column: str
    args: dict[str, ast._Node]
    param: Callable[[Any], str]
    now_s: float

    def values(self) -> list[Any]:
        node = self.args.get("PropertyValues")
        # A one-element list reads as a parenthesised literal once its brackets are parens.
        items = node.val if isinstance(node, ast.List) else [node] if isinstance(
            node, ast._Literal) else []
        if not items:
            raise errors.bad_query(f"{self.name} needs PropertyValues=[…].")
        return [literal(self.attr, item) for item in items]

    def value(self) -> Any:
        node = self.args.get("PropertyValue")
        if node is None:
            raise errors.bad_query(f"{self.name} needs PropertyValue=….")
        return literal(self.attr, node)

    def count(self) -> int:
        """A PropertyValue that is a number of hours or days, not a column value."""
        node = self.args.get("PropertyValue")
        text = str(getattr(node, "val", ""))
        if not text.lstrip("-").isdigit():
            raise errors.bad_query(f"{self.name} needs PropertyValue=<a whole number>.")
        return int(text)


def literal(attr: Attribute, node: ast._Node) -> Any:
    """A query-function argument (often a string, as the docs write numbers) as the column's
    stored type."""
    raw = getattr(node, "val", None)
    text = str(raw)
    try:
        if attr.type is T.DATETIME:
            return parse_datetime(text)
        if attr.type in (T.INTEGER, T.PICKLIST, T.STATE, T.STATUS, T.MULTISELECT):
            return int(text)
        if attr.type in (T.DECIMAL, T.MONEY):
            return float(text)
        if attr.type is T.BOOLEAN:
            return int(text.lower() in ("1", "true"))
    except ValueError:
        raise errors.bad_query(f"'{text}' is not a valid value for '{attr.name}'.") from None
    return text.lower() if attr.type in (T.UNIQUEIDENTIFIER, T.LOOKUP) else text


def _day_start(now_s: float, days: int = 0) -> int:
    day = datetime.fromtimestamp(now_s, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return int((day + timedelta(days=days)).timestamp())


def _between(call: FunctionCall, low: Any, high: Any, negate: bool = False) -> str:
    sql = f"{call.column} BETWEEN {call.param(low)} AND {call.param(high)}"
    return f"NOT ({sql})" if negate else sql


def _in(call: FunctionCall, negate: bool = False) -> str:
    names = ", ".join(call.param(v) for v in call.values())
    return f"{call.column} {'NOT ' if negate else ''}IN ({names})"


def _contains(call: FunctionCall, negate: bool = False) -> str:
    if call.attr.type is not T.MULTISELECT:
        raise errors.bad_query(f"{call.name} applies to multi-select choice columns only.")
    any_of = " OR ".join(f"(',' || {call.column} || ',') LIKE {call.param(f'%,{v},%')}"
                         for v in call.values())
    return f"({call.column} IS NULL OR NOT ({any_of}))" if negate else f"({any_of})"


def _pair(call: FunctionCall, negate: bool = False) -> str:
    values = call.values()
    if len(values) != 2:
        raise errors.bad_query(f"{call.name} needs two PropertyValues.")
    return _between(call, values[0], values[1], negate)


def _user(call: FunctionCall, negate: bool = False) -> str:
    caller = CURRENT.get()
    user = caller.user_id if caller else ""
    return f"{call.column} {'<>' if negate else '='} {call.param(user)}"


def _day_of(call: FunctionCall, offset: int) -> str:
    start = _day_start(call.now_s, offset)
    return _between(call, start, start + DAY_S - 1)


FUNCTIONS: dict[str, Callable[[FunctionCall], str]] = {
    "in": _in, "notin": lambda c: _in(c, True),
    "between": _pair, "notbetween": lambda c: _pair(c, True),
    "containvalues": _contains, "doesnotcontainvalues": lambda c: _contains(c, True),
    "equaluserid": _user, "notequaluserid": lambda c: _user(c, True),
    "today": lambda c: _day_of(c, 0), "yesterday": lambda c: _day_of(c, -1),
    "tomorrow": lambda c: _day_of(c, 1),
    "lastxhours": lambda c: _between(c, int(c.now_s) - c.count() * 3600, int(c.now_s)),
    "nextxhours": lambda c: _between(c, int(c.now_s), int(c.now_s) + c.count() * 3600),
    "lastxdays": lambda c: _between(c, _day_start(c.now_s, -c.count()), int(c.now_s)),
    "nextxdays": lambda c: _between(c, int(c.now_s), _day_start(c.now_s, c.count() + 1)
                                    - 1),
    "olderthanxdays": lambda c: f"{c.column} < {c.param(_day_start(c.now_s, -c.count()))}",
    "on": lambda c: _between(c, _day_start(c.value()), _day_start(c.value()) + DAY_S - 1),
    "onorafter": lambda c: f"{c.column} >= {c.param(_day_start(c.value()))}",
    "onorbefore": lambda c: f"{c.column} <= {c.param(_day_start(c.value()) + DAY_S - 1)}",
}


def unsupported(name: str) -> errors.DataverseError:
    return errors.bad_query(f"The query function 'Microsoft.Dynamics.CRM.{name}' is not "
                            "supported by the emulator.")
