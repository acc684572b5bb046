"""FetchXML queries: ``GET <entityset>?fetchXml=<url-encoded fetch>`` (reference §2).

Supported: ``<fetch page count paging-cookie top>`` with one ``<entity name>`` holding
``<attribute name>`` / ``<all-attributes/>``, ``<order attribute descending>`` and (nested)
``<filter type="and|or">`` of ``<condition attribute operator value>`` (``eq ne gt ge lt le
like not-like null not-null in not-in``). Null-valued columns are omitted from the rows.

Paging: with ``Prefer: odata.include-annotations`` naming (or matching)
``Microsoft.Dynamics.CRM.fetchxmlpagingcookie``, a page that has more rows carries
``@Microsoft.Dynamics.CRM.fetchxmlpagingcookie`` (``<cookie pagenumber="2" pagingcookie="…"
istracking="False" />``, the inner cookie URL-encoded twice) and
``@Microsoft.Dynamics.CRM.morerecords: true``; the last page carries neither. A request with
``paging-cookie`` continues strictly after the cookie's last row (keyset); without one,
``page`` N skips ``(N-1) × count`` rows.

Registered by wrapping ``env.tracked_read`` (collection GETs), so routes stay untouched.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from typing import Any
from urllib.parse import quote

from aiohttp import web

from emulator.dataverse import errors, fetch_aggregates, paging, prefer, routes
from emulator.dataverse.environment import Environment, TrackedRead, environment
from emulator.dataverse.query import OrderBy
from emulator.dataverse.render import Annotations, RowRenderer, context_url
from emulator.dataverse.schema import Attribute, AttributeType, Table
from emulator.dataverse.storage import Value
from emulator.dataverse.timestamps import parse_datetime

COOKIE = "Microsoft.Dynamics.CRM.fetchxmlpagingcookie"
MORE = "Microsoft.Dynamics.CRM.morerecords"
ALIAS = "t"
_COMPARE = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def register(env: Environment) -> None:
    env.tracked_read = _chained(env.tracked_read)


def _chained(previous: TrackedRead | None) -> TrackedRead:
    async def read(request: web.Request, table: Table) -> web.StreamResponse | None:
        if "fetchXml" in request.query:
            return fetch_response(request, table)
        return await previous(request, table) if previous is not None else None
    return read


def _bad(message: str) -> errors.DataverseError:
    return errors.DataverseError(400, "0x80041103", message)


def parse_fetch(text: str, table: Table) -> ElementTree.Element:
    try:
        fetch = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise _bad(f"Invalid XML in fetchXml: {exc}.") from None
    entity = fetch.find("entity")
    if fetch.tag != "fetch" or entity is None:
        raise _bad("The fetchXml must be a <fetch> element with one <entity>.")
    if entity.find(".//link-entity") is not None:
        raise _bad("FetchXML link-entity is not supported by the emulator; query the related "
                   "table separately or use $expand.")
    if entity.get("name") != table.logical_name:
        raise _bad(f"The entity name '{entity.get('name')}' in fetchXml does not match the "
                   f"entity set '{table.entity_set}'.")
    return fetch


def _attribute(table: Table, name: str | None) -> Attribute:
    attr = table.attributes.get(name or "")
    if attr is None:
        raise _bad(f"'{table.logical_name}' entity doesn't contain attribute with "
                   f"Name = '{name}'.")
    return attr


def _value(attr: Attribute, text: str) -> Value:
    if attr.type is AttributeType.DATETIME:
        return parse_datetime(text)
    if attr.type is AttributeType.INTEGER or attr.type.is_option_set:
        return int(text)
    if attr.type is AttributeType.BOOLEAN:
        return int(text in ("1", "true"))
    if attr.type in (AttributeType.DECIMAL, AttributeType.MONEY):
        return float(text)
    if attr.type in (AttributeType.UNIQUEIDENTIFIER, AttributeType.LOOKUP):
        return text.strip("{}").lower()
    return text


def filter_sql(node: ElementTree.Element, table: Table, params: dict[str, Any]) -> str:
    """A ``<filter>`` as SQL; every value is a named parameter."""
    joiner = " OR " if node.get("type", "and") == "or" else " AND "
    clauses = [condition_sql(child, table, params) if child.tag == "condition"
               else filter_sql(child, table, params)
               for child in node if child.tag in ("condition", "filter")]
    return "(" + joiner.join(clauses or ["1"]) + ")"


def condition_sql(node: ElementTree.Element, table: Table, params: dict[str, Any]) -> str:
    attr = _attribute(table, node.get("attribute"))
    column = f'{ALIAS}."{attr.column}"'
    operator = node.get("operator", "eq")

    def param(text: str) -> str:
        params[f"f{len(params)}"] = _value(attr, text)
        return f":f{len(params) - 1}"
    if operator in ("null", "not-null"):
        return f"{column} IS {'NOT ' if operator == 'not-null' else ''}NULL"
    if operator in ("in", "not-in"):
        names = [param(v.text or "") for v in node.findall("value")]
        negate = "NOT " if operator == "not-in" else ""
        return f"{column} {negate}IN ({', '.join(names) or 'NULL'})"
    if operator in ("contain-values", "not-contain-values"):
        patterns = [param(f"%,{(v.text or '').strip()},%") for v in node.findall("value")]
        any_of = " OR ".join(f"(',' || {column} || ',') LIKE {p}" for p in patterns) or "0"
        if operator == "contain-values":
            return f"({any_of})"
        return f"({column} IS NULL OR NOT ({any_of}))"
    if operator in ("like", "not-like"):
        negate = "NOT " if operator == "not-like" else ""
        return f"{column} {negate}LIKE {param(node.get('value', ''))}"
    if operator not in _COMPARE:
        raise _bad(f"The condition operator '{operator}' is not supported by the emulator.")
    return f"{column} {_COMPARE[operator]} {param(node.get('value', ''))}"


def _selection(entity: ElementTree.Element, table: Table) -> tuple[Attribute, ...] | None:
    if entity.find("all-attributes") is not None:
        return None
    names = [a.get("name") for a in entity.findall("attribute")]
    return tuple(_attribute(table, n) for n in names) if names else None


def _order(entity: ElementTree.Element, table: Table) -> list[OrderBy]:
    order = [OrderBy(_attribute(table, o.get("attribute")), o.get("descending") == "true")
             for o in entity.findall("order")]
    return paging.ordering(table, order)


def _cookie_last(cookie_text: str, order: list[OrderBy]) -> tuple[Value, ...]:
    """The last row's ordering values from an inner ``<cookie page=…>`` element."""
    try:
        inner = ElementTree.fromstring(cookie_text)
    except ElementTree.ParseError:
        raise _bad("The paging-cookie is not valid XML.") from None
    by_column = {child.tag: child.get("last") for child in inner}
    if any(o.attribute.column not in by_column for o in order):
        raise _bad("The paging-cookie does not match the query's order.")
    return tuple(None if by_column[o.attribute.column] is None
                 else paging.cookie_value(o.attribute, str(by_column[o.attribute.column]))
                 for o in order)


def _int_attr(fetch: ElementTree.Element, name: str, default: int) -> int:
    text = fetch.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise _bad(f"The fetch attribute {name}='{text}' must be a positive integer.")
    return int(text)


def fetch_response(request: web.Request, table: Table) -> web.Response:
    env = environment(request)
    fetch = parse_fetch(request.query["fetchXml"], table)
    entity = fetch.find("entity")
    assert entity is not None
    prefs = prefer.parse_prefer(request.headers.getall("Prefer", []))
    if fetch.get("aggregate") == "true":
        return aggregate_response(request, env, table, entity, prefs)
    page = _int_attr(fetch, "page", 1)
    count = min(_int_attr(fetch, "count", _int_attr(fetch, "top", 5000)), prefer.MAX_PAGE_SIZE)
    order = _order(entity, table)
    params: dict[str, Any] = {}
    where = [filter_sql(f, table, params) for f in entity.findall("filter")]
    offset = 0
    if fetch.get("paging-cookie"):
        where.append(paging.keyset_sql(order, _cookie_last(fetch.get("paging-cookie", ""), order),
                                       ALIAS, params))
    else:
        offset = (page - 1) * count
    renderer = RowRenderer(env.catalog, Annotations.from_preferences(prefs))
    row_sql = renderer.json_sql(table, ALIAS, _selection(entity, table))
    columns = ", ".join(f'{ALIAS}."{o.attribute.column}"' for o in order)
    sql = (f"SELECT {row_sql}, {columns} FROM {table.sql_table} AS {ALIAS}"
           + (" WHERE " + " AND ".join(where) if where else "")
           + f" ORDER BY {paging.order_sql(order, ALIAS)} LIMIT {count + 1} OFFSET {offset}")
    rows = env.storage.db.execute(sql, params).fetchall()
    more = len(rows) > count and fetch.get("top") is None
    rows = rows[:count]
    body: dict[str, Any] = {"@odata.context": context_url(
        f"{request.url.origin()}/api/data/{request.match_info.get('version', 'v9.2')}", table)}
    if more and prefs.wants(COOKIE):
        inner = paging.encode_cookie(order, page, tuple(rows[0])[1:], tuple(rows[-1])[1:])
        body[f"@{COOKIE}"] = _double_encoded(inner)
        body[f"@{MORE}"] = True
    body["value"] = [_without_nulls(json.loads(row[0])) for row in rows]
    return routes.json_response(body)


def aggregate_response(request: web.Request, env: Environment, table: Table,
                       entity: ElementTree.Element, prefs: prefer.Preferences) -> web.Response:
    selected, groups = fetch_aggregates.select_list(entity, table, _attribute)
    params: dict[str, Any] = {}
    where = [filter_sql(f, table, params) for f in entity.findall("filter")]
    where_sql = " WHERE " + " AND ".join(where) if where else ""
    fetch_aggregates.check_limit(env.storage.db, table, where_sql, params)
    columns = ", ".join(f'{sql} AS "{alias}"' for alias, sql, _ in selected)
    sql = (f"SELECT {columns} FROM {table.sql_table} AS {ALIAS}{where_sql}"
           + (" GROUP BY " + ", ".join(groups) if groups else "")
           + fetch_aggregates.order_sql(entity, {alias for alias, _, _ in selected}))
    rows = env.storage.db.execute(sql, params).fetchall()
    values = [_aggregate_row(env, selected, row, prefs) for row in rows]
    return routes.json_response({"@odata.context": context_url(
        f"{request.url.origin()}/api/data/{request.match_info.get('version', 'v9.2')}", table),
        "value": values})


def _aggregate_row(env: Environment, selected: list[tuple[str, str, Attribute]],
                   row: Any, prefs: prefer.Preferences) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for (alias, _, attr), value in zip(selected, row, strict=True):
        if value is None:
            continue  # FetchXML leaves nulls out
        if prefs.wants(prefer.FORMATTED):
            label = fetch_aggregates.formatted(attr, value, _lookup_names(env, attr, value))
            if label is not None:
                out[f"{alias}@{prefer.FORMATTED}"] = label
        out[alias] = value
    return out


def _lookup_names(env: Environment, attr: Attribute, value: Any) -> dict[tuple[str, str], str]:
    """The primary name of the row a grouped lookup value points at."""
    if attr.type is not AttributeType.LOOKUP:
        return {}
    for name in attr.targets:
        target = env.catalog.by_logical_name(name)
        row = env.storage.fetch(target, str(value)) if target else None
        if target is not None and row is not None:
            return {(attr.name, str(value)): str(row[target.primary_name])}
    return {}


def _double_encoded(outer: str) -> str:
    """The documented annotation form: the once-encoded inner cookie encoded again."""
    start = outer.index('pagingcookie="') + len('pagingcookie="')
    end = outer.index('"', start)
    return outer[:start] + quote(outer[start:end], safe="") + outer[end:]


def _without_nulls(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}
