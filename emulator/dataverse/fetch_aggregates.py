"""FetchXML aggregates: ``<fetch aggregate="true">`` (reference: "Aggregate data using
FetchXml").

Each ``<attribute>`` carries an ``alias`` and either ``aggregate`` (``count``,
``countcolumn`` with optional ``distinct="true"``, ``sum``, ``avg``, ``min``, ``max``) or
``groupby="true"`` (with ``dategrouping`` ``year``/``quarter``/``month``/``week``/``day`` for
dates). Rows come back keyed by alias, grouped rows with the FormattedValue of option-set
and lookup groups when annotations are asked for; ``<order alias="…">`` sorts them. More than
50,000 matching rows is Dataverse's ``AggregateQueryRecordLimit`` error.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from typing import Any

from emulator.dataverse import errors
from emulator.dataverse.schema import Attribute, AttributeType, Table

T = AttributeType
RECORD_LIMIT = 50_000
LIMIT_EXCEEDED = "0x8004e023"
ALIAS = "t"
_FUNCTIONS = {"count": "count(*)", "countcolumn": "count({col})", "sum": "sum({col})",
              "avg": "avg({col})", "min": "min({col})", "max": "max({col})"}
_DATE_PARTS = {"year": "%Y", "month": "%m", "day": "%d", "week": "%W"}


def _bad(message: str) -> errors.DataverseError:
    return errors.DataverseError(400, "0x80041103", message)


def _group_sql(attr: Attribute, column: str, grouping: str | None) -> str:
    if grouping is None:
        return column
    if attr.type is not T.DATETIME:
        raise _bad(f"dategrouping applies to date and time columns, not '{attr.name}'.")
    if grouping == "quarter":
        return f"((CAST(strftime('%m', {column}, 'unixepoch') AS INTEGER) + 2) / 3)"
    if grouping not in _DATE_PARTS:
        raise _bad(f"The dategrouping '{grouping}' is not supported by the emulator.")
    return f"CAST(strftime('{_DATE_PARTS[grouping]}', {column}, 'unixepoch') AS INTEGER)"


def _aggregate_sql(attr: Attribute, column: str, kind: str, distinct: bool) -> str:
    if kind not in _FUNCTIONS:
        raise _bad(f"The aggregate '{kind}' is not valid; use count, countcolumn, sum, avg, "
                   "min or max.")
    if kind in ("sum", "avg") and attr.type not in (T.INTEGER, T.DECIMAL, T.MONEY):
        raise _bad(f"The aggregate '{kind}' needs a number or money column, not '{attr.name}'.")
    target = f"DISTINCT {column}" if distinct and kind == "countcolumn" else column
    return _FUNCTIONS[kind].format(col=target)


def select_list(entity: ElementTree.Element, table: Table,
                attribute: Any) -> tuple[list[tuple[str, str, Attribute]], list[str]]:
    """([(alias, SQL, attribute)], [GROUP BY expressions]) of an aggregate fetch."""
    selected, groups = [], []
    for node in entity.findall("attribute"):
        attr: Attribute = attribute(table, node.get("name"))
        alias = node.get("alias")
        if not alias:
            raise _bad(f"An aggregate query needs an alias on attribute '{attr.name}'.")
        column = f'{ALIAS}."{attr.column}"'
        if node.get("groupby") == "true":
            sql = _group_sql(attr, column, node.get("dategrouping"))
            groups.append(sql)
        elif node.get("aggregate"):
            sql = _aggregate_sql(attr, column, str(node.get("aggregate")),
                                 node.get("distinct") == "true")
        else:
            raise _bad(f"Attribute '{attr.name}' of an aggregate query needs aggregate or "
                       "groupby.")
        selected.append((alias, sql, attr))
    if not selected:
        raise _bad("An aggregate query needs at least one attribute with an aggregate.")
    return selected, groups


def order_sql(entity: ElementTree.Element, aliases: set[str]) -> str:
    parts = []
    for node in entity.findall("order"):
        alias = node.get("alias")
        if alias not in aliases:
            raise _bad(f"An aggregate query orders by alias; '{alias}' is not one.")
        parts.append(f'"{alias}" {"DESC" if node.get("descending") == "true" else "ASC"}')
    return " ORDER BY " + ", ".join(parts) if parts else ""


def check_limit(db: Any, table: Table, where_sql: str, params: dict[str, Any]) -> None:
    sql = f"SELECT count(*) FROM (SELECT 1 FROM {table.sql_table} AS {ALIAS}{where_sql} " \
          f"LIMIT {RECORD_LIMIT + 1})"
    if int(db.execute(sql, params).fetchone()[0]) > RECORD_LIMIT:
        raise errors.DataverseError(400, LIMIT_EXCEEDED, (
            "AggregateQueryRecordLimit exceeded. Cannot perform this operation."))


def formatted(attr: Attribute, value: Any, labels: dict[tuple[str, str], str]) -> str | None:
    """The FormattedValue of a grouped value: an option's label or a looked-up row's name."""
    if value is None:
        return None
    if attr.type.is_option_set:
        return attr.options.get(int(value))
    return labels.get((attr.name, str(value)))
