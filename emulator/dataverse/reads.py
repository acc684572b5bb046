"""Reading rows: a page of a collection, one record, and ``$count``.

The hot path never builds a dict per row: SQLite renders each row's JSON (see
:mod:`emulator.dataverse.render`), Python joins the texts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from emulator.dataverse import paging, prefer
from emulator.dataverse.environment import Environment
from emulator.dataverse.filters import filter_sql
from emulator.dataverse.query import QueryOptions
from emulator.dataverse.render import Annotations, RowRenderer, context_url
from emulator.dataverse.schema import Table
from emulator.dataverse.storage import JSON_COLUMN

COUNT_LIMIT = 5000
ALIAS = "t"


@dataclass
class Page:
    body: str
    applied: list[str] = field(default_factory=list)  # Preference-Applied values


@dataclass(frozen=True)
class ReadRequest:
    """What a read needs from the HTTP request, so ``$batch`` can build one too."""

    service_root: str  # e.g. https://localhost:8443/api/data/v9.2
    url_without_query: str
    query: Sequence[tuple[str, str]]
    prefs: prefer.Preferences


def where_clause(env: Environment, table: Table, options: QueryOptions,
                 params: dict[str, Any]) -> list[str]:
    if not options.filter:
        return []
    condition = filter_sql(options.filter, table, ALIAS, env.catalog, params,
                           env.storage.clock.time())
    return [f"({condition})"]


def row_json_sql(env: Environment, table: Table, options: QueryOptions,
                 prefs: prefer.Preferences, params: dict[str, Any] | None = None) -> str:
    """The stored JSON for whole plain rows; otherwise rendered for this query (a
    ``$filter`` inside ``$expand`` adds its literals to ``params``)."""
    annotations = Annotations.from_preferences(prefs)
    if options.select is None and not options.expand and annotations == Annotations():
        return f"{ALIAS}.{JSON_COLUMN}"
    return RowRenderer(env.catalog, annotations, params).json_sql(
        table, ALIAS, options.select, options.expand)


def count_rows(env: Environment, table: Table, options: QueryOptions, limit: int | None) -> int:
    params: dict[str, Any] = {}
    where = where_clause(env, table, options, params)
    sql = f"SELECT 1 FROM {table.sql_table} AS {ALIAS}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    row = env.storage.db.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()
    return int(row[0])


def query_collection(env: Environment, table: Table, options: QueryOptions,
                     read: ReadRequest, within: str | None = None) -> Page:
    """One page of ``table``'s rows; ``within`` (a SQL condition over alias ``t``) limits
    them further, e.g. to the rows related to one record."""
    prefs = read.prefs
    page_size = prefs.max_page_size
    paged = page_size is not None or options.top is None
    if page_size is None:
        page_size = min(options.top, prefer.MAX_PAGE_SIZE) if options.top is not None \
            else prefer.MAX_PAGE_SIZE
    order = paging.ordering(table, options.orderby)
    params: dict[str, Any] = {}
    where = where_clause(env, table, options, params) + ([within] if within else [])
    cookie = paging.decode_cookie(options.skiptoken, order) if options.skiptoken else None
    if cookie:
        where.append(paging.keyset_sql(order, cookie.last, ALIAS, params))
    row_sql = row_json_sql(env, table, options, prefs, params)
    ordering_columns = ", ".join(f'{ALIAS}."{o.attribute.column}"' for o in order)
    sql = (f"SELECT {row_sql}, {ordering_columns} FROM {table.sql_table} AS {ALIAS}"
           + (" WHERE " + " AND ".join(where) if where else "")
           + f" ORDER BY {paging.order_sql(order, ALIAS)} LIMIT {page_size + 1}")
    cursor = env.storage.db.cursor()
    cursor.row_factory = None
    rows = cursor.execute(sql, params).fetchall()
    more = paged and len(rows) > page_size
    rows = rows[:page_size]
    head = {"@odata.context": context_url(read.service_root, table, options.context_suffix())}
    head.update(_counts(env, table, options, prefs))
    tail = ""
    if more:
        page_number = cookie.page_number if cookie else 1
        token = paging.encode_cookie(order, page_number, rows[0][1:], rows[-1][1:])
        tail = "," + _compact({"@odata.nextLink": paging.next_link(
            read.url_without_query, read.query, token)})[1:-1]
    body = (_compact(head)[:-1] + ',"value":[' + ",".join(r[0] for r in rows) + "]"
            + tail + "}")
    applied = [f"odata.maxpagesize={prefs.max_page_size}"] if prefs.max_page_size else []
    return Page(body, applied)


def _compact(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def _counts(env: Environment, table: Table, options: QueryOptions,
            prefs: prefer.Preferences) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    total = count_rows(env, table, options, COUNT_LIMIT + 1) if options.count else None
    if prefs.wants(prefer.TOTAL_COUNT):
        counts[f"@{prefer.TOTAL_COUNT}"] = min(total, COUNT_LIMIT) if total is not None else -1
    if prefs.wants(prefer.TOTAL_COUNT_EXCEEDED):
        counts[f"@{prefer.TOTAL_COUNT_EXCEEDED}"] = total is not None and total > COUNT_LIMIT
    if total is not None:
        counts["@odata.count"] = min(total, COUNT_LIMIT)
    return counts


def retrieve_one(env: Environment, table: Table, record_id: str, options: QueryOptions,
                 read: ReadRequest) -> str | None:
    """The record's JSON with ``@odata.context …/$entity``; None when it does not exist."""
    params: dict[str, Any] = {}
    row_sql = row_json_sql(env, table, options, read.prefs, params)
    params["record_id"] = record_id
    row = env.storage.db.execute(
        f'SELECT {row_sql} FROM {table.sql_table} AS {ALIAS} '
        f'WHERE {ALIAS}."{table.primary_id}" = :record_id', params).fetchone()
    if row is None:
        return None
    context = context_url(read.service_root, table, options.context_suffix(), entity=True)
    return _compact({"@odata.context": context})[:-1] + "," + str(row[0])[1:]
