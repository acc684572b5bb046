"""The emulated Dynamics 365 Finance & Operations OData service under ``/data/``.

Routes: ``/data/`` (service document), ``/data/$metadata``, ``/data/$batch``,
``/data/<set>[(<key>)][/<action>]``, and the control plane under ``/_emulator/fo/``.
A seed's ``fo_enums:`` and ``fo_entities:`` sections add enums and entities (see
:mod:`emulator.fo.entities`); its ``fo_rows:`` section maps an entity set to rows in OData
shape (inserted like the control route does).

Module map: entities (fields, keys, enums, built-ins, seed entities) · payload (bodies ->
columns, row JSON in SQL) · storage (SQLite tables, ETags) · environment (per-emulator
object, default company, actions) · calls (request/response model) · paths (segments,
keys) · query (query options) · filters ($filter -> SQL, enum literals) · reads (pages,
nextLink, key lookup) · writes (create/update/delete, server dates) · actions (OData
actions) · batch ($batch) · metadata ($metadata) · auth (bearer tokens) · errors (error
JSON with innererror) · routes (HTTP glue, dispatch) · control (``/_emulator/fo/``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.fo import actions, control, routes
from emulator.fo.entities import entity_from_seed
from emulator.fo.environment import FoEnvironment, create_environment, fo_environment
from emulator.fo.errors import FoError
from emulator.fo.writes import insert_rows
from emulator.state import EmulatorState

__all__ = ["FoEnvironment", "FoError", "apply_seed", "fo_environment", "setup"]


def setup(app: web.Application, state: EmulatorState) -> None:
    env = create_environment(state)
    actions.register(env)
    app.router.add_route("*", "/data", routes.data_service)
    app.router.add_route("*", "/data/{path:.*}", routes.data_service)
    app.add_routes(control.routes)


def apply_seed(state: EmulatorState, doc: dict[str, Any]) -> None:
    env = fo_environment(state)
    for name, members in (doc.get("fo_enums") or {}).items():
        env.catalog.enums[str(name)] = {str(m): i for i, m in enumerate(members)}
    for entity_doc in doc.get("fo_entities") or []:
        env.add_entity(entity_from_seed(entity_doc, env.catalog.enums))
    for name, rows in (doc.get("fo_rows") or {}).items():
        entity = env.catalog.get(name)
        if entity is None:
            raise ValueError(f"seed fo_rows: no F&O entity set named {name!r}")
        insert_rows(env, entity, list(rows))
