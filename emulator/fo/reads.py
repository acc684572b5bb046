"""Reading entities: a page of a collection, ``$count``, and one entity by key.

Server-driven paging: at most 10,000 rows a page (reference §9), the ``@odata.nextLink``
being the same URL with ``$skip`` advanced (and ``$top`` reduced when one was given).
``Prefer: odata.maxpagesize=N`` is honoured up to 10,000 and echoed in
``Preference-Applied``; F&O does not document it [I], so clients should not rely on it.
Rows come in the ``$orderby`` order, then by key, so ``$skip`` pages are stable.
Without ``cross-company=true`` only the default company's rows exist.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from emulator.fo import errors
from emulator.fo.calls import FoCall, FoResponse, json_response
from emulator.fo.entities import DATA_AREA, Entity
from emulator.fo.environment import FoEnvironment
from emulator.fo.filters import filter_sql
from emulator.fo.payload import Value, json_sql
from emulator.fo.query import QueryOptions
from emulator.fo.storage import ALIAS, ETAG, JSON, ROW_ID

MAX_PAGE_SIZE = 10_000
_MAX_PAGE_PREFERENCE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.I)


@dataclass(frozen=True)
class Where:
    sql: str
    params: dict[str, Any]


def where(env: FoEnvironment, entity: Entity, options: QueryOptions) -> Where:
    params: dict[str, Any] = {}
    parts = []
    if entity.company_specific and not options.cross_company:
        params["company"] = env.default_company
        parts.append(f'{ALIAS}."{DATA_AREA}" = :company')
    if options.filter:
        parts.append(f"({filter_sql(options.filter, entity, ALIAS, env.catalog.enums, params)})")
    return Where(" AND ".join(parts) or "1", params)


def order_by(entity: Entity, options: QueryOptions) -> str:
    chosen = [(name, desc) for name, desc in options.orderby]
    named = {name for name, _ in chosen}
    chosen += [(name, False) for name in entity.key if name not in named]
    return ", ".join(f'{ALIAS}."{name}"{" DESC" if desc else ""}' for name, desc in chosen)


def count_rows(env: FoEnvironment, entity: Entity, options: QueryOptions) -> int:
    clause = where(env, entity, options)
    row = env.storage.db.execute(f"SELECT count(*) FROM {entity.sql_table} AS {ALIAS} "
                                 f"WHERE {clause.sql}", clause.params).fetchone()
    return int(row[0])


def page_size(call: FoCall) -> tuple[int, dict[str, str]]:
    """The page size, and the Preference-Applied header when ``odata.maxpagesize`` was used."""
    match = _MAX_PAGE_PREFERENCE.search(",".join(call.headers.getall("Prefer", [])))
    if match is None or int(match.group(1)) < 1:
        return MAX_PAGE_SIZE, {}
    size = min(int(match.group(1)), MAX_PAGE_SIZE)
    return size, {"Preference-Applied": f"odata.maxpagesize={size}"}


def list_page(env: FoEnvironment, call: FoCall, entity: Entity,
              options: QueryOptions) -> FoResponse:
    size, applied = page_size(call)
    wanted = size if options.top is None else min(size, options.top)
    clause = where(env, entity, options)
    row_json = f"{ALIAS}.{JSON}" if options.select is None else json_sql(
        entity, ALIAS, options.select)
    rows = env.storage.db.execute(
        f"SELECT {row_json} FROM {entity.sql_table} AS {ALIAS} WHERE {clause.sql} "
        f"ORDER BY {order_by(entity, options)} LIMIT :limit OFFSET :offset",
        {**clause.params, "limit": wanted + 1, "offset": options.skip}).fetchall()
    more = len(rows) > wanted and (options.top is None or options.top > wanted)
    context = f"{call.service_root}/$metadata#{entity.set_name}{options.context_suffix()}"
    head = f'{{"@odata.context":{json.dumps(context)}'
    if options.count:
        head += f',"@odata.count":{count_rows(env, entity, options)}'
    body = head + ',"value":[' + ",".join(r[0] for r in rows[:wanted]) + "]"
    if more:
        body += f',"@odata.nextLink":{json.dumps(next_link(call, entity, options, wanted))}'
    return json_response(body + "}", headers=applied)


def next_link(call: FoCall, entity: Entity, options: QueryOptions, served: int) -> str:
    """The same query with ``$skip`` past this page (and what is left of ``$top``)."""
    items = [(k, v) for k, v in call.query.items() if k not in ("$skip", "$top")]
    if options.top is not None:
        items.append(("$top", str(options.top - served)))
    items.append(("$skip", str(options.skip + served)))
    query = urlencode(items, quote_via=quote, safe="$',():*")
    return f"{call.service_root}/{entity.set_name}?{query}"


def find(env: FoEnvironment, entity: Entity, key: dict[str, Value],
         cross_company: bool) -> int | None:
    """The rowid of the entity with this key, if the caller can see it.

    Addressing another company's row by key needs ``cross-company=true`` [I: reference §9
    notes clients add it; the emulator requires it, so a client that omits it finds out].
    """
    if (entity.company_specific and not cross_company
            and str(key[DATA_AREA]).lower() != env.default_company.lower()):
        return None
    return env.storage.find_rowid(entity, key)


def read_one(env: FoEnvironment, call: FoCall, entity: Entity, rowid: int,
             options: QueryOptions) -> FoResponse:
    row_json = f"{ALIAS}.{JSON}" if options.select is None else json_sql(
        entity, ALIAS, options.select)
    row = env.storage.db.execute(f"SELECT {row_json}, {ETAG} FROM {entity.sql_table} AS {ALIAS} "
                                 f"WHERE {ROW_ID} = ?", (rowid,)).fetchone()
    if row is None:
        raise errors.not_found(entity.set_name)
    context = (f"{call.service_root}/$metadata#{entity.set_name}{options.context_suffix()}"
               "/$entity")
    body = f'{{"@odata.context":{json.dumps(context)},' + row[0][1:]
    return json_response(body, headers={"ETag": row[1]})
