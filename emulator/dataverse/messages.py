"""Dataverse messages beyond CRUD: unbound and bound actions and functions (reference §3).

* ``POST WinOpportunity`` (unbound action) ``{"OpportunityClose": {"opportunityid@odata.bind":
  "/opportunities(<id>)", …}, "Status": 3}``: the opportunity becomes Won (statecode 1) with
  that status reason; answers 204.
* ``GET RetrieveTotalRecordCount(EntityNames=@p1)?@p1=["account","contact"]`` (unbound
  function): ``{"EntityRecordCountCollection": {"Count", "IsReadOnly", "Keys", "Values"}}``.
* ``GET CalculateRollupField(Target=@p1,FieldName=@p2)?@p1={'@odata.id':'accounts(<id>)'}&
  @p2='revenue'`` (unbound function): the target record with that column.
* ``POST incidents(<id>)/Microsoft.Dynamics.CRM.new_Escalate`` (a custom action bound to a
  record) ``{"Reason": "…"}``: priority High, the reason appended to the description; answers
  ``{"PreviousPriority": n, "Escalated": true}``.
* ``GET incidents(<id>)/Microsoft.Dynamics.CRM.CalculateTotalTimeIncident()`` (bound
  function): ``{"TotalTime": <sum of actualdurationminutes of its tasks>}``.

Function parameters are inline literals or ``@alias`` names resolved from the query string:
``'text'`` (quotes doubled), numbers, ``true``/``false``/``null``, and JSON objects or arrays
(single-quoted JSON as the docs write it is accepted too).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from emulator.dataverse import errors, routes, writes
from emulator.dataverse.environment import Environment, environment
from emulator.dataverse.schema import Table
from emulator.dataverse.urls import Segment, parse_literal, parse_reference, split_outside_quotes
from emulator.dataverse.urls import split_path as split

NAMESPACE = "Microsoft.Dynamics.CRM."


def register(env: Environment) -> None:
    env.operations["WinOpportunity"] = win_opportunity
    env.operations["RetrieveTotalRecordCount"] = retrieve_total_record_count
    env.operations["CalculateRollupField"] = calculate_rollup_field
    env.bound_actions["new_Escalate"] = escalate
    env.bound_actions["CalculateTotalTimeIncident"] = total_time


def _require_method(request: web.Request, method: str) -> None:
    if request.method != method:
        raise errors.DataverseError(405, errors.RESOURCE_NOT_FOUND, (
            f"The HTTP method '{request.method}' is not allowed for this resource."))


def _segments(request: web.Request) -> list[Segment]:
    return split(request.match_info.get("path", ""))


def function_parameters(request: web.Request) -> dict[str, Any]:
    """``Name(A=@p1,B='x')?@p1=…`` -> ``{"A": …, "B": "x"}``."""
    key = _segments(request)[-1].key or ""
    values: dict[str, Any] = {}
    for part in split_outside_quotes(key, ",") if key.strip() else []:
        name, sep, text = part.partition("=")
        if not sep:
            raise errors.bad_query(f"Bad Request - Error in query syntax: '{part}'.")
        text = text.strip()
        if text.startswith("@"):
            if text not in request.query:
                raise errors.bad_query(f"The parameter alias '{text}' has no value.")
            text = request.query[text]
        values[name.strip()] = parameter_value(text)
    return values


def parameter_value(text: str) -> Any:
    text = text.strip()
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            try:
                return json.loads(text.replace("'", '"'))
            except ValueError:
                raise errors.bad_query(f"The parameter value '{text[:80]}' is not valid.") \
                    from None
    return parse_literal(text)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise errors.bad_payload("", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise errors.bad_payload("", "The action parameters must be a JSON object.")
    return body


def _record(env: Environment, reference: Any, expected: str | None = None) -> tuple[Table, str]:
    """(table, id) of an entity reference ``{"@odata.id": "accounts(<id>)"}`` or a URL."""
    url = reference.get("@odata.id") if isinstance(reference, dict) else reference
    if not isinstance(url, str):
        raise errors.bad_query("An entity reference must be {\"@odata.id\": \"<set>(<id>)\"}.")
    segment = parse_reference(url)
    table = env.catalog.by_entity_set(segment.name)
    if table is None or (expected is not None and table.logical_name != expected):
        raise errors.unknown_segment(segment.name)
    return table, writes.require(env, table, segment.key or "")


async def win_opportunity(request: web.Request) -> web.StreamResponse:
    _require_method(request, "POST")
    env = environment(request)
    body = await _body(request)
    close = body.get("OpportunityClose")
    status = body.get("Status")
    if not isinstance(close, dict) or not isinstance(status, int):
        raise errors.bad_query("WinOpportunity needs OpportunityClose and Status parameters.")
    table, record_id = _record(env, close.get("opportunityid@odata.bind"), "opportunity")
    if status not in table.attributes["statuscode"].options:
        raise errors.DataverseError(400, errors.VALIDATION, (
            f"{status} is not a valid status code for state code OpportunityState.Won."))
    env.storage.update(table, record_id, {"statecode": 1, "statuscode": status})
    return routes.no_content()


async def retrieve_total_record_count(request: web.Request) -> web.StreamResponse:
    _require_method(request, "GET")
    env = environment(request)
    names = function_parameters(request).get("EntityNames")
    if not isinstance(names, list) or not names:
        raise errors.bad_query("RetrieveTotalRecordCount needs EntityNames, a list of tables.")
    counts = []
    for name in names:
        table = env.catalog.by_logical_name(str(name))
        if table is None:
            raise errors.DataverseError(404, errors.RESOURCE_NOT_FOUND, (
                f"Could not find entity with logical name '{name}'."))
        counts.append(env.storage.db.execute(f"SELECT count(*) FROM {table.sql_table}")
                      .fetchone()[0])
    return routes.json_response({
        "@odata.context": f"{_root(request)}/$metadata#{NAMESPACE}"
                          "RetrieveTotalRecordCountResponse",
        "EntityRecordCountCollection": {"Count": len(names), "IsReadOnly": False,
                                        "Keys": names, "Values": counts}})


async def calculate_rollup_field(request: web.Request) -> web.StreamResponse:
    _require_method(request, "GET")
    env = environment(request)
    params = function_parameters(request)
    table, record_id = _record(env, params.get("Target"))
    field = params.get("FieldName")
    attr = table.attributes.get(str(field))
    if attr is None:
        raise errors.DataverseError(400, "0x80040203", (
            f"The field '{field}' is not a rollup field of '{table.logical_name}'."))
    row = env.storage.fetch(table, record_id)
    assert row is not None
    return routes.json_response({
        "@odata.context": f"{_root(request)}/$metadata#{table.entity_set}/$entity",
        table.primary_id: record_id, attr.column: row[attr.column]})


def _bound_record(request: web.Request, table: Table) -> str:
    segments = _segments(request)
    if segments[0].key is None:
        raise errors.unknown_segment(segments[-1].name)
    return writes.require(environment(request), table, segments[0].key)


async def escalate(request: web.Request, table: Table) -> web.StreamResponse:
    _require_method(request, "POST")
    if table.logical_name != "incident":
        raise errors.unknown_segment(f"{NAMESPACE}new_Escalate")
    env = environment(request)
    record_id = _bound_record(request, table)
    reason = (await _body(request)).get("Reason")
    row = env.storage.fetch(table, record_id)
    assert row is not None
    described = "\n".join(filter(None, [row["description"], f"Escalated: {reason}"]))
    env.storage.update(table, record_id, {"prioritycode": 1, "description": described})
    return routes.json_response({
        "@odata.context": f"{_root(request)}/$metadata#{NAMESPACE}new_EscalateResponse",
        "PreviousPriority": row["prioritycode"], "Escalated": True})


async def total_time(request: web.Request, table: Table) -> web.StreamResponse:
    _require_method(request, "GET")
    if table.logical_name != "incident":
        raise errors.unknown_segment(f"{NAMESPACE}CalculateTotalTimeIncident")
    env = environment(request)
    record_id = _bound_record(request, table)
    total = env.storage.db.execute(
        'SELECT coalesce(sum(actualdurationminutes), 0) FROM dv_task '
        'WHERE "_regardingobjectid_value" = ?', (record_id,)).fetchone()[0]
    return routes.json_response({
        "@odata.context": f"{_root(request)}/$metadata#{NAMESPACE}"
                          "CalculateTotalTimeIncidentResponse", "TotalTime": int(total)})


def _root(request: web.Request) -> str:
    return f"{request.url.origin()}/api/data/{request.match_info.get('version', 'v9.2')}"
