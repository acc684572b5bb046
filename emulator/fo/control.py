"""Control routes under ``/_emulator/fo/``: the test's hands on the F&O environment.

* ``POST /_emulator/fo/entities/{set}/rows`` with ``{"rows": [{…}, …]}``: insert many rows
  in one statement (all or none). Rows use OData property names and values; they may set
  the change-date and created-date fields (ISO 8601) to model history; fields left out get
  F&O's empty values, dates left out get "now", ``dataAreaId`` the default company.
  Answers ``{"inserted": <n>}``; a bad row answers the F&O error JSON.
* ``GET /_emulator/fo/entities/{set}/rows``: every row of every company, by key.
* ``DELETE /_emulator/fo/entities/{set}/rows``: remove every row.
* ``GET /_emulator/fo/entities``: each entity's set, key, fields and date fields.
* ``GET``/``PUT /_emulator/fo/settings``: ``{"default_company": "usmf"}``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from emulator.fo import errors
from emulator.fo.entities import Entity
from emulator.fo.environment import FoEnvironment, fo_environment
from emulator.fo.writes import insert_rows, raw_row
from emulator.state import STATE
from emulator.traffic import json_error, read_body

PREFIX = "/_emulator/fo"
routes = web.RouteTableDef()


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_company: str = Field(min_length=1, max_length=4, examples=["usmf"],
                                 description="the emulated user's default company (dataAreaId)")


class RowsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]]


SETTINGS = TypeAdapter(Settings)
ROWS_BODY = TypeAdapter(RowsBody)


def _env(request: web.Request) -> FoEnvironment:
    return fo_environment(request.app[STATE])


def _entity(env: FoEnvironment, name: str) -> Entity:
    entity = env.catalog.get(name)
    if entity is None:
        raise json_error(404, f"no F&O entity set {name!r}")
    return entity


@routes.post(PREFIX + "/entities/{name}/rows")
async def post_rows(request: web.Request) -> web.Response:
    env = _env(request)
    entity = _entity(env, request.match_info["name"])
    body = await read_body(request, ROWS_BODY)
    try:
        inserted = insert_rows(env, entity, body.rows)
    except errors.FoError as exc:
        return web.Response(status=exc.status, body=errors.error_body(exc),
                            content_type="application/json")
    return web.json_response({"inserted": inserted})


@routes.get(PREFIX + "/entities/{name}/rows")
async def get_rows(request: web.Request) -> web.Response:
    env = _env(request)
    entity = _entity(env, request.match_info["name"])
    order = ", ".join(f'"{k}"' for k in entity.key)
    cursor = env.storage.db.execute(f"SELECT * FROM {entity.sql_table} ORDER BY {order}")
    return web.json_response({"rows": [raw_row(entity, row) for row in cursor]})


@routes.delete(PREFIX + "/entities/{name}/rows")
async def delete_rows(request: web.Request) -> web.Response:
    env = _env(request)
    entity = _entity(env, request.match_info["name"])
    env.storage.db.execute(f"DELETE FROM {entity.sql_table}")
    return web.Response(status=204)


@routes.get(PREFIX + "/entities")
async def get_entities(request: web.Request) -> web.Response:
    return web.json_response({"entities": [
        {"name": e.set_name, "type": e.edm_type, "table_type": e.table_type,
         "company": e.company_specific, "key": list(e.key),
         "fields": {f.name: f"enum {f.enum}" if f.enum else str(f.type) for f in e.fields},
         "change_date_field": e.change_date_field, "created_date_field": e.created_date_field}
        for e in _env(request).catalog.all()]})


@routes.get(PREFIX + "/settings")
async def get_settings(request: web.Request) -> web.Response:
    return web.json_response({"default_company": _env(request).default_company})


@routes.put(PREFIX + "/settings")
async def put_settings(request: web.Request) -> web.Response:
    settings = await read_body(request, SETTINGS)
    env = _env(request)
    env.default_company = settings.default_company.lower()
    return web.json_response({"default_company": env.default_company})
