"""Control routes under ``/_emulator/dataverse/``: the test's hands on the tables.

* ``POST /_emulator/dataverse/tables/{logical_name}/rows`` with ``{"rows": [{…}, …]}``:
  insert many rows in one statement. Rows use Web API property names (and
  ``x@odata.bind``); they may also set the primary id, ``createdon`` and ``modifiedon``
  (ISO 8601 or epoch seconds) to model late commits, and lookups as ``_x_value``.
  Answers ``{"ids": [...], "versionnumber": <last>}``.
* ``GET /_emulator/dataverse/tables/{logical_name}/rows``: every row, raw (datetimes ISO).
* ``GET /_emulator/dataverse/tables``: the tables with their entity sets.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from emulator.dataverse import errors
from emulator.dataverse.environment import Environment, environment
from emulator.dataverse.payload import PayloadReader
from emulator.dataverse.schema import AttributeType, Table
from emulator.dataverse.storage import JSON_COLUMN
from emulator.dataverse.timestamps import format_datetime

routes = web.RouteTableDef()


def _table(env: Environment, name: str) -> Table:
    table = env.catalog.by_logical_name(name) or env.catalog.by_entity_set(name)
    if table is None:
        raise web.HTTPNotFound(text=json.dumps({"error": f"no table {name!r}"}),
                               content_type="application/json")
    return table


def insert_rows(env: Environment, table: Table, rows: list[Any]) -> list[str]:
    """Insert rows given in Web API shape (plus system columns) in one transaction."""
    reader = PayloadReader(env, table, system_columns=True)
    return env.storage.insert_many(table, [reader.read(row) for row in rows])


@routes.post("/_emulator/dataverse/tables/{name}/rows")
async def post_rows(request: web.Request) -> web.Response:
    env = environment(request)
    table = _table(env, request.match_info["name"])
    body = await request.json()
    rows = body.get("rows") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        return web.json_response({"error": 'body must be {"rows": [...]}'}, status=400)
    try:
        ids = insert_rows(env, table, rows)
    except errors.DataverseError as exc:
        return errors.error_response(exc)
    return web.json_response({"ids": ids, "versionnumber": env.storage.versions.last})


@routes.get("/_emulator/dataverse/tables/{name}/rows")
async def get_rows(request: web.Request) -> web.Response:
    env = environment(request)
    table = _table(env, request.match_info["name"])
    cursor = env.storage.db.execute(
        f'SELECT * FROM {table.sql_table} ORDER BY "{table.primary_id}"')
    return web.json_response({"rows": [_raw(table, dict(row)) for row in cursor]})


def _raw(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    row.pop(JSON_COLUMN, None)
    for attr in table.attributes.values():
        if attr.type is AttributeType.DATETIME and row.get(attr.column) is not None:
            row[attr.column] = format_datetime(row[attr.column])
        if attr.type is AttributeType.BOOLEAN and row.get(attr.column) is not None:
            row[attr.column] = bool(row[attr.column])
    return row


@routes.get("/_emulator/dataverse/tables")
async def get_tables(request: web.Request) -> web.Response:
    env = environment(request)
    return web.json_response({"tables": [
        {"logical_name": t.logical_name, "entity_set": t.entity_set,
         "primary_id": t.primary_id, "change_tracking": t.change_tracking}
        for t in env.catalog.tables()]})
