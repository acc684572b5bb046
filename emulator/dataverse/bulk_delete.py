"""``POST BulkDelete``: delete every row a set of queries matches, as a system job
(reference: "Delete data in bulk", the BulkDelete action).

The body names ``QuerySet`` (QueryExpressions: ``EntityName`` and ``Criteria`` with
``FilterOperator`` ``And``/``Or``, ``Conditions`` of ``AttributeName``, ``Operator`` and
``Values: [{"Value": …, "Type": …}]``, nested ``Filters``), ``JobName``,
``SendEmailNotification``, ``ToRecipients``, ``CCRecipients``, ``RecurrencePattern`` and
``StartDateTime``. The answer is ``{"JobId": <asyncoperationid>}`` at once; the deletion runs
right after it on the event loop, and the ``asyncoperation`` row (operation type 13) moves
from Waiting For Resources to Completed/Succeeded, with a ``bulkdeleteoperation`` row that
counts the deleted rows. Recurring jobs (a non-empty ``RecurrencePattern``) are refused with
a 400: the emulator runs each job once.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from emulator.dataverse import access, errors, routes
from emulator.dataverse.environment import Environment, environment
from emulator.dataverse.schema import Attribute, Table
from emulator.dataverse.timestamps import parse_datetime

_OPERATORS = {"Equal": "=", "NotEqual": "<>", "GreaterThan": ">", "GreaterEqual": ">=",
              "LessThan": "<", "LessEqual": "<=", "Like": "LIKE", "NotLike": "NOT LIKE"}
BULK_DELETE_TYPE = 13


def register(env: Environment) -> None:
    env.operations["BulkDelete"] = bulk_delete


async def bulk_delete(request: web.Request) -> web.StreamResponse:
    if request.method != "POST":
        raise errors.DataverseError(405, errors.RESOURCE_NOT_FOUND, (
            f"The HTTP method '{request.method}' is not allowed for this resource."))
    env = environment(request)
    body = await _body(request)
    if str(body.get("RecurrencePattern") or "").strip():
        raise errors.bad_query("BulkDelete with a RecurrencePattern is not supported by the "
                               "emulator; send RecurrencePattern \"\" to run the job once.")
    queries = [_query(env, q) for q in body.get("QuerySet") or []]
    if not queries:
        raise errors.bad_query("BulkDelete needs a QuerySet with at least one QueryExpression.")
    for table, _, _ in queries:
        access.authorize(env, table, ("Delete",))
    job_id = _new_job(env, str(body.get("JobName") or "Bulk Delete"))
    asyncio.get_running_loop().call_soon(_run, env, job_id, queries)
    root = f"{request.url.origin()}/api/data/{request.match_info.get('version', 'v9.2')}"
    return routes.json_response({
        "@odata.context": f"{root}/$metadata#Microsoft.Dynamics.CRM.BulkDeleteResponse",
        "JobId": job_id})


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise errors.bad_payload("", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise errors.bad_payload("", "The action parameters must be a JSON object.")
    return body


def _table(env: Environment, name: str) -> Table:
    table = env.catalog.by_logical_name(name)
    if table is None:
        raise errors.DataverseError(404, errors.RESOURCE_NOT_FOUND, (
            f"Could not find entity with logical name '{name}'."))
    return table


def _query(env: Environment, query: Any) -> tuple[Table, str, list[Any]]:
    if not isinstance(query, dict):
        raise errors.bad_query("Each QuerySet item must be a QueryExpression object.")
    table = _table(env, str(query.get("EntityName") or ""))
    params: list[Any] = []
    where = _filter(table, query.get("Criteria") or {}, params)
    return table, where, params


def _filter(table: Table, criteria: dict[str, Any], params: list[Any]) -> str:
    joiner = " OR " if str(criteria.get("FilterOperator", "And")).lower() == "or" else " AND "
    parts = [_condition(table, c, params) for c in criteria.get("Conditions") or []]
    parts += [_filter(table, f, params) for f in criteria.get("Filters") or []]
    return "(" + (joiner.join(parts) or "1") + ")"


def _attribute(table: Table, name: str) -> Attribute:
    attr = table.attributes.get(name)
    if attr is None:
        raise errors.bad_query(f"'{table.logical_name}' entity doesn't contain attribute with "
                               f"Name = '{name}'.")
    return attr


def _condition(table: Table, condition: dict[str, Any], params: list[Any]) -> str:
    attr = _attribute(table, str(condition.get("AttributeName")))
    column = f'"{attr.column}"'
    operator = str(condition.get("Operator"))
    values = [_value(attr, v.get("Value") if isinstance(v, dict) else v)
              for v in condition.get("Values") or []]
    if operator in ("Null", "NotNull"):
        return f"{column} IS {'NOT ' if operator == 'NotNull' else ''}NULL"
    if operator in ("In", "NotIn"):
        params.extend(values)
        marks = ", ".join("?" for _ in values) or "NULL"
        return f"{column} {'NOT ' if operator == 'NotIn' else ''}IN ({marks})"
    if operator not in _OPERATORS or len(values) != 1:
        raise errors.bad_query(f"The condition operator '{operator}' with {len(values)} "
                               "value(s) is not supported by the emulator's BulkDelete.")
    params.append(values[0])
    return f"{column} {_OPERATORS[operator]} ?"


def _value(attr: Attribute, value: Any) -> Any:
    if attr.type.value == "DateTime" and isinstance(value, str):
        return parse_datetime(value)
    if isinstance(value, bool):
        return int(value)
    return value.lower() if attr.type.value in ("Uniqueidentifier", "Lookup") and isinstance(
        value, str) else value


def _tables(env: Environment) -> tuple[Table, Table]:
    jobs, deletes = (env.catalog.by_logical_name("asyncoperation"),
                     env.catalog.by_logical_name("bulkdeleteoperation"))
    assert jobs is not None and deletes is not None
    return jobs, deletes


def _new_job(env: Environment, name: str) -> str:
    jobs, _ = _tables(env)
    return env.storage.insert(jobs, {"name": name, "operationtype": BULK_DELETE_TYPE,
                                     "messagename": "BulkDelete", "statuscode": 0})


def _run(env: Environment, job_id: str, queries: list[tuple[Table, str, list[Any]]]) -> None:
    jobs, deletes = _tables(env)
    env.storage.update(jobs, job_id, {"statuscode": 20, "startedon": env.storage.now_s()})
    deleted = 0
    for table, where, params in queries:
        ids = [str(r[0]) for r in env.storage.db.execute(
            f'SELECT "{table.primary_id}" FROM {table.sql_table} WHERE {where}', params)]
        deleted += sum(1 for record_id in ids if env.storage.delete(table, record_id))
    now = env.storage.now_s()
    name = env.storage.fetch(jobs, job_id)["name"]  # type: ignore[index]
    env.storage.insert(deletes, {"name": name, "_asyncoperationid_value": job_id,
                                 "_asyncoperationid_type": "asyncoperation",
                                 "successcount": deleted, "failurecount": 0, "statuscode": 30})
    env.storage.update(jobs, job_id, {"statuscode": 30, "completedon": now,
                                      "message": f"{deleted} record(s) deleted."})
