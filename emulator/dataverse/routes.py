"""HTTP handlers of the Web API under ``/api/data/{version}/``.

:func:`web_api` checks the version and the bearer token, then :func:`dispatch` routes by
path shape. ``dispatch`` only reads ``request["principal"]`` (it never re-authenticates),
so a ``$batch`` handler can call it for each sub-request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from emulator.dataverse import (
    access,
    csdl,
    duplicates,
    errors,
    files,
    metadata,
    navigation,
    principals,
    writes,
)
from emulator.dataverse.auth import PRINCIPAL, authenticate
from emulator.dataverse.callers import CURRENT, Caller, acting_as
from emulator.dataverse.environment import Environment, environment
from emulator.dataverse.events import PENDING
from emulator.dataverse.prefer import Preferences, parse_prefer
from emulator.dataverse.query import (
    check_custom_options,
    collection_link,
    collection_target,
    parse_options,
)
from emulator.dataverse.reads import ReadRequest, count_rows, query_collection, retrieve_one
from emulator.dataverse.render import JSON_TYPE, context_url, value_sql
from emulator.dataverse.schema import Table
from emulator.dataverse.urls import Segment, split_path
from emulator.state import STATE

VERSIONS = frozenset({"v8.2", "v9.0", "v9.1", "v9.2"})
BOUND_PREFIX = "Microsoft.Dynamics.CRM."
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Call:
    """One Web API request, parsed once."""

    request: web.Request
    env: Environment
    service_root: str
    segments: list[Segment]
    prefs: Preferences

    @property
    def method(self) -> str:
        return self.request.method

    def read_request(self) -> ReadRequest:
        url = self.request.url
        return ReadRequest(self.service_root, str(url.with_query(None)),
                           list(self.request.query.items()), self.prefs)

    def conditions(self) -> writes.Conditions:
        headers = self.request.headers
        return writes.Conditions.from_headers(headers.get("If-Match"),
                                              headers.get("If-None-Match"))


async def web_api(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if request.match_info["version"] not in VERSIONS:
        return errors.error_response(errors.unknown_segment(request.match_info["version"]))
    try:
        authenticate(request, state)
        async with environment(request).pipeline.request_scope():
            return await dispatch(request)
    except errors.DataverseError as exc:
        return errors.error_response(exc)


async def dispatch(request: web.Request) -> web.StreamResponse:
    """Answer one authenticated Web API request (errors become Dataverse error JSON).

    The request acts as its caller's ``systemuser`` (or the one it impersonates); a
    ``$batch`` part without impersonation headers acts as its batch does."""
    pending = PENDING.get()
    mark = len(pending) if pending is not None else 0
    try:
        call = _call(request)
        with acting_as(_caller(call)):
            return await _route_with_steps(call)
    except errors.DataverseError as exc:
        if pending is not None:
            del pending[mark:]  # the operation failed: its events never happened
        return errors.error_response(exc)
    except Exception:  # a bug: answer like Dataverse would, without a traceback on the wire
        if pending is not None:
            del pending[mark:]
        log.exception("dataverse.unexpected_error")
        return errors.error_response(errors.DataverseError(
            500, errors.UNEXPECTED, "An unexpected error occurred."))


async def _route_with_steps(call: Call) -> web.StreamResponse:
    """Route the request; while synchronous webhook steps exist, a write runs alone inside a
    transaction, and its synchronous deliveries go out before it commits."""
    pipeline = call.env.pipeline
    if not pipeline.needs_isolation(call.method):
        return await _route(call)
    async with pipeline.isolated():
        pending = PENDING.get()
        if pending is None:  # not inside a Web API request: nothing to deliver here
            pending = []
        mark = len(pending)
        with call.env.storage.store.transaction():
            response = await _route(call)
            if response.status < 400:
                await pipeline.deliver_sync(pending[mark:])
        return response


def _caller(call: Call) -> Caller:
    headers = call.request.headers
    current = CURRENT.get()
    if current is not None and not ({"CallerObjectId", "MSCRMCallerID"} & set(headers)):
        return current
    state = call.request.app[STATE]
    return principals.caller_for(call.env, state.directory, call.request[PRINCIPAL], headers)


def _call(request: web.Request) -> Call:
    version = request.match_info.get("version", "v9.2")
    path = request.match_info.get("path", "")
    prefs = parse_prefer(request.headers.getall("Prefer", []))
    segments = [_aliased(s, request.query) for s in split_path(path)] if path else []
    return Call(request, environment(request), f"{request.url.origin()}/api/data/{version}",
                segments, prefs)


def _aliased(segment: Segment, query: Mapping[str, str]) -> Segment:
    """``serviceendpoints(@id)?@id=<guid>``: a parameter alias as the key, as the docs use."""
    if segment.key and segment.key.startswith("@"):
        if segment.key not in query:
            raise errors.bad_query(f"The parameter alias '{segment.key}' has no value.")
        return Segment(segment.name, query[segment.key])
    return segment


async def _route(call: Call) -> web.StreamResponse:
    if call.segments and call.segments[0].name == "$metadata" and call.method == "GET":
        return csdl_document(call)
    check_custom_options(call.request.query)
    if not call.segments:
        return service_document(call)
    first = call.segments[0]
    if first.name in call.env.operations:
        return await call.env.operations[first.name](call.request)
    if first.name == "WhoAmI" and first.key in (None, ""):
        return who_am_i(call)
    if first.name in metadata.ROOTS:
        return entity_definitions(call)
    table = call.env.catalog.by_entity_set(first.name)
    if table is None:
        raise errors.unknown_segment(first.name)
    access.authorize(call.env, table, access.kinds(call.method, call.segments[1:],
                                                   first.key is not None))
    if first.key is None:
        return await _collection_route(call, table)
    return await _record_route(call, table, first.key)


async def _collection_route(call: Call, table: Table) -> web.StreamResponse:
    rest = call.segments[1:]
    if not rest:
        if call.method == "GET":
            tracked = None
            if call.env.tracked_read is not None:  # change tracking answers it, if asked for
                tracked = await call.env.tracked_read(call.request, table)
            return tracked if tracked is not None else list_rows(call, table)
        if call.method == "POST":
            return await create(call, table)
        raise _method_not_allowed(call)
    if len(rest) == 1 and rest[0].name == "$count" and call.method == "GET":
        options = parse_options(call.request.query, table, call.env.catalog)
        return web.Response(text=str(count_rows(call.env, table, options, 5000)),
                            content_type="text/plain", headers=errors.ODATA_HEADERS)
    if len(rest) == 1 and rest[0].name.startswith(BOUND_PREFIX):
        action = call.env.bound_actions.get(rest[0].name.removeprefix(BOUND_PREFIX))
        if action is not None:
            return await action(call.request, table)
    raise errors.unknown_segment(rest[0].name)


async def _record_route(call: Call, table: Table, key: str) -> web.StreamResponse:
    rest = call.segments[1:]
    file_column = files.is_file_column(table, rest[0].name) if rest else None
    if file_column is not None and (len(rest) == 1 or rest[1:] == [Segment("$value")]):
        return await files.column_route(call.env, call.request, table, key, file_column,
                                        value_segment=len(rest) == 2)
    if not rest:
        handlers = {"GET": retrieve, "PATCH": upsert, "DELETE": delete}
        handler = handlers.get(call.method)
        if handler is None:
            raise _method_not_allowed(call)
        return await handler(call, table, key)
    if len(rest) == 1 and rest[0].name.startswith(BOUND_PREFIX):  # bound to the record
        action = call.env.bound_actions.get(rest[0].name.removeprefix(BOUND_PREFIX))
        if action is None:
            raise errors.unknown_segment(rest[0].name)
        return await action(call.request, table)
    if len(rest) == 1:
        return await property_route(call, table, key, rest[0].name)
    if len(rest) == 2 and rest[1].name == "$ref":
        return await reference_route(call, table, key, rest[0].name, member=rest[0].key)
    raise errors.unknown_segment(rest[0].name)


def _method_not_allowed(call: Call) -> errors.DataverseError:
    return errors.DataverseError(405, "0x80060888", (
        f"The HTTP method '{call.method}' is not allowed for this resource."))


def json_response(body: str | dict[str, Any], status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return web.Response(status=status, body=text.encode(), headers={
        "Content-Type": JSON_TYPE, **errors.ODATA_HEADERS, **(headers or {})})


def no_content(headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=204, headers={**errors.ODATA_HEADERS, **(headers or {})})


async def read_json(call: Call, table: Table | None = None) -> Any:
    raw = await call.request.read()
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        name = table.entity_set if table else ""
        raise errors.bad_payload(name, "The request body is not valid JSON.") from None


def csdl_document(call: Call) -> web.Response:
    if set(call.request.query) - {"annotations"}:
        raise errors.bad_query("$metadata takes no query option but 'annotations'.")
    annotations = call.request.query.get("annotations", "false").lower() == "true"
    return web.Response(text=csdl.document(call.env.catalog, annotations),
                        content_type="application/xml", headers=errors.ODATA_HEADERS)


def service_document(call: Call) -> web.Response:
    sets = [{"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set}
            for t in call.env.catalog.tables()]
    return json_response({"@odata.context": f"{call.service_root}/$metadata", "value": sets})


def who_am_i(call: Call) -> web.Response:
    """The systemuser the request acts as (the impersonated one, when impersonating)."""
    caller = CURRENT.get()
    assert caller is not None
    users = call.env.catalog.by_logical_name("systemuser")
    assert users is not None
    row = call.env.storage.fetch(users, caller.user_id)
    unit = row["_businessunitid_value"] if row is not None else call.env.business_unit_id
    return json_response({
        "@odata.context": f"{call.service_root}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
        "BusinessUnitId": unit, "UserId": caller.user_id,
        "OrganizationId": call.env.organization_id})


def entity_definitions(call: Call) -> web.Response:
    if call.method != "GET":
        raise _method_not_allowed(call)
    return json_response(metadata.respond(call.env.catalog, call.segments,
                                          dict(call.request.query), call.service_root))


def list_rows(call: Call, table: Table) -> web.Response:
    options = parse_options(call.request.query, table, call.env.catalog)
    page = query_collection(call.env, table, options, call.read_request())
    headers = {"Preference-Applied": ",".join(page.applied)} if page.applied else {}
    applied = _annotations_applied(call.prefs)
    if applied:
        headers["Preference-Applied"] = ",".join(filter(None, [headers.get(
            "Preference-Applied"), applied]))
    return json_response(page.body, headers=headers)


def _annotations_applied(prefs: Preferences) -> str:
    raw = prefs.values.get("odata.include-annotations")
    return f"odata.include-annotations={raw}" if raw else ""


def _representation(call: Call, table: Table, record_id: str) -> str:
    options = parse_options(call.request.query, table, call.env.catalog)
    body = retrieve_one(call.env, table, record_id, options, call.read_request())
    if body is None:
        raise errors.not_found(table.logical_name, record_id)
    return body


def _etag_header(call: Call, table: Table, record_id: str) -> dict[str, str]:
    row = call.env.storage.fetch(table, record_id)
    return {"ETag": f'W/"{row["versionnumber"]}"'} if row is not None else {}


async def retrieve(call: Call, table: Table, key: str) -> web.Response:
    record_id = writes.require(call.env, table, key)
    etag = _etag_header(call, table, record_id)
    if_none_match = call.request.headers.get("If-None-Match")
    cacheable = "$expand" not in call.request.query and not call.prefs.annotation_patterns
    if cacheable and if_none_match and if_none_match == etag.get("ETag"):
        return web.Response(status=304, headers={**errors.ODATA_HEADERS, **etag})
    headers = etag
    applied = _annotations_applied(call.prefs)
    if applied:
        headers = {**headers, "Preference-Applied": applied}
    return json_response(_representation(call, table, record_id), headers=headers)


async def create(call: Call, table: Table) -> web.Response:
    record_id = writes.create(call.env, table, await read_json(call, table),
                              detect_duplicates=duplicates.wanted(call.request.headers))
    return _written(call, table, record_id, created=True, key=record_id)


async def upsert(call: Call, table: Table, key: str) -> web.Response:
    exists = writes.resolve(call.env, table, key)[0] is not None
    access.authorize(call.env, table, ("Write",) if exists else ("Create",))
    body = await read_json(call, table)
    result = writes.upsert(call.env, table, key, body, call.conditions(),
                           detect_duplicates=duplicates.wanted(call.request.headers))
    return _written(call, table, result.record_id, created=result.created, key=key)


def _written(call: Call, table: Table, record_id: str, created: bool, key: str) -> web.Response:
    if call.prefs.return_representation:
        headers = {"Preference-Applied": "return=representation",
                   **_etag_header(call, table, record_id)}
        return json_response(_representation(call, table, record_id),
                             status=201 if created else 200, headers=headers)
    entity_id = f"{call.service_root}/{table.entity_set}({key})"
    return no_content({"OData-EntityId": entity_id})


async def delete(call: Call, table: Table, key: str) -> web.Response:
    writes.delete(call.env, table, key, call.conditions())
    return no_content()


async def property_route(call: Call, table: Table, key: str, name: str) -> web.Response:
    if call.method == "PUT":
        body = await read_json(call, table)
        if not isinstance(body, dict) or "value" not in body:
            raise errors.bad_payload(table.entity_set, "A property PUT needs {\"value\": …}.")
        writes.set_property(call.env, table, key, name, body["value"], call.conditions())
        return no_content()
    if call.method == "DELETE":
        writes.set_property(call.env, table, key, name, None, call.conditions())
        return no_content()
    if call.method == "GET" and navigation.is_navigation(table, name):
        body, headers = navigation.read(call.env, table, key, name, call.request.query,
                                        call.read_request())
        return json_response(body, headers=headers) if body is not None else no_content()
    if call.method == "GET":
        return _property_value(call, table, key, name)
    raise _method_not_allowed(call)


def _property_value(call: Call, table: Table, key: str, name: str) -> web.Response:
    record_id = writes.require(call.env, table, key)
    attr = table.attribute_by_column(name)
    if attr is None:
        raise errors.unknown_property(name, table.logical_name)
    value = "'null'" if attr.write_only else value_sql(attr, f't."{attr.column}"')
    row = call.env.storage.db.execute(
        f"SELECT {value} FROM {table.sql_table} AS t "
        f'WHERE t."{table.primary_id}" = ?', (record_id,)).fetchone()
    context = context_url(call.service_root, table, f"({record_id})/{name}")
    return json_response(f'{{"@odata.context":{json.dumps(context)},"value":{row[0]}}}')


async def reference_route(call: Call, table: Table, key: str, nav: str,
                          member: str | None) -> web.Response:
    if call.method == "PUT":
        writes.set_reference(call.env, table, key, nav, await _reference_body(call, table))
    elif call.method == "POST":
        writes.associate(call.env, table, key, nav, await _reference_body(call, table))
    elif call.method == "DELETE":
        reference = call.request.query.get("$id")
        if member is not None:
            reference = _member_reference(call.env, table, nav, member)
        writes.disassociate(call.env, table, key, nav, reference)
    else:
        raise _method_not_allowed(call)
    return no_content()


def _member_reference(env: Environment, table: Table, nav: str, member: str) -> str:
    """``accounts(1)/contact_customer_accounts(2)/$ref`` names member ``contacts(2)``."""
    link = collection_link(table, nav)
    source = env.catalog.by_logical_name(collection_target(table, link)) if link else None
    if source is None:
        raise errors.unknown_property(nav, table.logical_name)
    return f"{source.entity_set}({member})"


async def _reference_body(call: Call, table: Table) -> str:
    body = await read_json(call, table)
    reference = body.get("@odata.id") if isinstance(body, dict) else None
    if not isinstance(reference, str):
        raise errors.bad_payload(table.entity_set, "The body must be {\"@odata.id\": \"<url>\"}.")
    return reference
