"""Bulk operation messages: ``CreateMultiple``, ``UpdateMultiple``, ``UpsertMultiple``.

Bound to a collection (reference Addendum): ``POST <set>/Microsoft.Dynamics.CRM.<Name>``
with ``{"Targets": [...]}``, where every target carries ``"@odata.type":
"Microsoft.Dynamics.CRM.<logicalname>"``. On standard tables a request is one transaction:
all targets are written inside one savepoint, so one bad row fails the request with that
row's error and nothing is written. Rows written by one request share one clock reading,
so they share ``createdon``/``modifiedon`` as a real bulk load does.

Answers: ``CreateMultiple`` 200 ``{"@odata.context": …CreateMultipleResponse, "Ids": […]}``;
``UpdateMultiple`` 204; ``UpsertMultiple`` 204 (the Web API reference: "The UpsertMultiple
action returns 204 NoContent. The UpsertMultipleResponse complex type is not returned.").
An upsert target names its row by ``"@odata.id": "<set>(<key>)"`` (primary or alternate
key) or by its primary id column; a target naming neither is created.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from emulator.dataverse import errors, routes, writes
from emulator.dataverse.environment import Environment, environment
from emulator.dataverse.payload import PayloadReader
from emulator.dataverse.schema import Table
from emulator.dataverse.urls import parse_reference

TYPE_PREFIX = "Microsoft.Dynamics.CRM."


def register(env: Environment) -> None:
    env.bound_actions["CreateMultiple"] = create_multiple
    env.bound_actions["UpdateMultiple"] = update_multiple
    env.bound_actions["UpsertMultiple"] = upsert_multiple


async def create_multiple(request: web.Request, table: Table) -> web.StreamResponse:
    env, targets = await _targets(request, table)
    reader = PayloadReader(env, table)
    rows = [reader.read(target) for target in targets]
    with env.storage.store.transaction():
        ids = env.storage.insert_many(table, rows)  # one statement, one createdon
    context = f"{service_root(request)}/$metadata#{TYPE_PREFIX}CreateMultipleResponse"
    return routes.json_response({"@odata.context": context, "Ids": ids})


async def update_multiple(request: web.Request, table: Table) -> web.StreamResponse:
    env, targets = await _targets(request, table)
    reader = PayloadReader(env, table)
    updates = []
    for target in targets:
        values = reader.read(target)
        record_id = values.pop(table.primary_id, None)
        if record_id is None:
            raise errors.bad_payload(table.entity_set, (
                f"Each UpdateMultiple target must contain its primary id '{table.primary_id}'."))
        updates.append((str(record_id), values))
    modified_s = env.storage.now_s()
    with env.storage.store.transaction():
        for record_id, values in updates:
            if env.storage.fetch(table, record_id) is None:
                raise errors.not_found(table.logical_name, record_id)
            env.storage.update(table, record_id, values, modified_s=modified_s)
    return routes.no_content()


async def upsert_multiple(request: web.Request, table: Table) -> web.StreamResponse:
    env, targets = await _targets(request, table)
    with env.storage.store.transaction():
        for target in targets:
            body = {k: v for k, v in target.items() if k != "@odata.id"}
            key = _upsert_key(table, target)
            if key is None:
                writes.create(env, table, body)
            else:
                writes.upsert(env, table, key, body, writes.Conditions())
    return routes.no_content()


def _upsert_key(table: Table, target: dict[str, Any]) -> str | None:
    """The URL key naming the target's row: from ``@odata.id``, else its primary id."""
    reference = target.get("@odata.id")
    if isinstance(reference, str):
        segment = parse_reference(reference)
        if segment.name != table.entity_set:
            raise errors.bad_payload(table.entity_set, (
                f"The '@odata.id' '{reference}' does not name a {table.logical_name} record."))
        return segment.key
    record_id = target.get(table.primary_id)
    return str(record_id) if record_id is not None else None


async def _targets(request: web.Request, table: Table) -> tuple[Environment, list[dict[str, Any]]]:
    """The ``Targets`` of a bulk request, each checked for the table's ``@odata.type``."""
    if request.method != "POST":
        raise errors.DataverseError(405, errors.RESOURCE_NOT_FOUND, (
            f"The HTTP method '{request.method}' is not allowed for this resource."))
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise errors.bad_payload(table.entity_set, "The request body is not valid JSON.") from None
    targets = body.get("Targets") if isinstance(body, dict) else None
    if not isinstance(targets, list) or not targets:
        raise errors.bad_payload(table.entity_set, (
            "The 'Targets' parameter must be a non-empty collection of entities."))
    expected = f"{TYPE_PREFIX}{table.logical_name}"
    for index, target in enumerate(targets):
        _check_type(table, target, index, expected)
    return environment(request), targets


def _check_type(table: Table, target: Any, index: int, expected: str) -> None:
    if not isinstance(target, dict):
        raise errors.bad_payload(table.entity_set, f"Targets[{index}] is not an entity object.")
    odata_type = target.get("@odata.type")
    if odata_type is None:
        raise errors.bad_payload(table.entity_set, (
            f"Targets[{index}] has no '@odata.type' annotation; every target of a bulk "
            f"operation must set it, for example '{expected}'."))
    if str(odata_type).lstrip("#") != expected:
        raise errors.bad_payload(table.entity_set, (
            f"Targets[{index}] has '@odata.type' '{odata_type}', but the records of "
            f"'{table.entity_set}' are '{expected}'."))


def service_root(request: web.Request) -> str:
    """``https://host:port/api/data/v9.2`` for this request."""
    return f"{request.url.origin()}/api/data/{request.match_info.get('version', 'v9.2')}"
