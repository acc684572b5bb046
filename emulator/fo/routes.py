"""HTTP handlers of the F&O OData service under ``/data/``.

:func:`data_service` verifies the bearer token and turns the aiohttp request into a
:class:`FoCall`; :func:`dispatch` routes it by path shape and answers a :class:`FoResponse`
(errors included), so ``$batch`` runs its parts through the same function.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web
from multidict import CIMultiDict, MultiDict

from emulator.fo import actions, batch, errors, metadata, reads, writes
from emulator.fo.auth import verify_bearer
from emulator.fo.calls import (
    FoCall,
    FoResponse,
    error_response,
    json_response,
    no_content,
)
from emulator.fo.entities import Entity
from emulator.fo.environment import FoEnvironment, fo_environment
from emulator.fo.paths import Segment, key_text, parse_key, split_path
from emulator.fo.query import parse_options
from emulator.state import STATE

log = logging.getLogger(__name__)


async def data_service(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        principal = verify_bearer(state, request.headers.get("Authorization"))
    except errors.FoError as exc:
        return to_web(error_response(exc))
    call = FoCall(request.method, request.match_info.get("path", ""),
                  MultiDict(request.query), CIMultiDict(request.headers), await request.read(),
                  f"{request.url.origin()}/data", principal)
    return to_web(dispatch(fo_environment(state), call))


def to_web(response: FoResponse) -> web.Response:
    return web.Response(status=response.status, headers=response.headers, body=response.body)


def dispatch(env: FoEnvironment, call: FoCall) -> FoResponse:
    """Answer one authenticated call; errors become F&O error JSON."""
    try:
        return _route(env, call)
    except errors.FoError as exc:
        return error_response(exc)
    except Exception:  # a bug: answer like F&O would, without a traceback on the wire
        log.exception("fo.unexpected_error")
        return error_response(errors.unexpected())


def _route(env: FoEnvironment, call: FoCall) -> FoResponse:
    segments = split_path(call.path) if call.path.strip("/") else []
    if not segments:
        return service_document(env, call)
    first = segments[0]
    if first.name == "$metadata" and first.key is None and len(segments) == 1:
        return metadata.document(env)
    if first.name == "$batch" and first.key is None and len(segments) == 1:
        return batch.handle_batch(env, call, dispatch)
    entity = env.catalog.get(first.name)
    if entity is None:
        raise errors.not_found(first.name)
    if first.key is None:
        return _collection_route(env, call, entity, segments[1:])
    return _entity_route(env, call, entity, first, segments[1:])


def _collection_route(env: FoEnvironment, call: FoCall, entity: Entity,
                      rest: list[Segment]) -> FoResponse:
    if not rest:
        if call.method == "GET":
            return reads.list_page(env, call, entity, parse_options(call.query, entity))
        if call.method == "POST":
            return create(env, call, entity)
        raise errors.method_not_allowed(call.method)
    if len(rest) == 1 and rest[0].name == "$count" and call.method == "GET":
        count = reads.count_rows(env, entity, parse_options(call.query, entity))
        return FoResponse(200, {"Content-Type": "text/plain", "OData-Version": "4.0"},
                          str(count).encode())
    if len(rest) == 1 and rest[0].key is None:
        return actions.run_action(env, call, entity, rest[0].name, None)
    raise errors.not_found(rest[0].name)


def _entity_route(env: FoEnvironment, call: FoCall, entity: Entity, first: Segment,
                  rest: list[Segment]) -> FoResponse:
    key = parse_key(first.key or "", entity)
    rowid = reads.find(env, entity, key, call.flag("cross-company"))
    if rowid is None:
        raise errors.not_found(entity.set_name)
    if len(rest) == 1 and rest[0].key is None:
        return actions.run_action(env, call, entity, rest[0].name, rowid)
    if rest:
        raise errors.not_found(rest[0].name)
    if call.method == "GET":
        return reads.read_one(env, call, entity, rowid, parse_options(call.query, entity))
    if call.method in ("PATCH", "PUT"):
        writes.update(env, entity, rowid, call.json_body())
        return no_content()
    if call.method == "DELETE":
        writes.delete(env, entity, rowid)
        return no_content()
    raise errors.method_not_allowed(call.method)


def create(env: FoEnvironment, call: FoCall, entity: Entity) -> FoResponse:
    row = writes.create(env, entity, call.json_body())
    location = f"{call.service_root}/{entity.set_name}({key_text(entity, row)})"
    stored = reads.find(env, entity, {k: row[k] for k in entity.key}, cross_company=True)
    assert stored is not None
    created = reads.read_one(env, call, entity, stored, parse_options({}, entity))
    created.status = 201
    created.headers["Location"] = location
    return created


def service_document(env: FoEnvironment, call: FoCall) -> FoResponse:
    if call.method != "GET":
        raise errors.method_not_allowed(call.method)
    sets = [{"name": e.set_name, "kind": "EntitySet", "url": e.set_name}
            for e in env.catalog.all()]
    return json_response(json.dumps({"@odata.context": f"{call.service_root}/$metadata",
                                     "value": sets}))
