"""Registering a webhook in Dataverse through the Web API, idempotently (Microsoft's "Register
a WebHook" and "Use WebHooks to create external handlers for server events").

What one :class:`WebhookPlan` becomes:

* a ``serviceendpoint`` (``contract`` 8: webhook) found again by its ``name``, posting to
  ``url`` with ``authtype`` 4 (WebhookKey: Dataverse adds ``?code=<key>``);
* per message (``Create``, ``Update``), one asynchronous post-operation
  ``sdkmessageprocessingstep`` on the table (the ``sdkmessagefilter`` of message and table),
  named ``<endpoint name>: <message>``, an Update step with ``filteringattributes`` when the
  plan names columns;
* on each step, a post image ``post`` with the plan's columns (all when None): the row as it
  is after the write, which the delivery carries.

Registering again updates what changed (url, key, columns, filtering) and removes steps for
messages no longer wanted; :func:`unregister` removes the endpoint and its steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connectors.dynamics365.client import DataverseClient
from connectors.errors import FatalError
from connectors.odata import escaping as odata

WEBHOOK, WEBHOOK_KEY, ASYNC, POST_OPERATION, POST_IMAGE = 8, 4, 1, 40, 1


@dataclass(frozen=True)
class WebhookPlan:
    name: str  # the service endpoint's name: how it is found again
    url: str
    key: str  # the WebhookKey Dataverse sends as ?code=
    table: str  # the table's logical name
    messages: tuple[str, ...] = ("Create", "Update")
    image_columns: tuple[str, ...] | None = None  # None: every column
    filtering: tuple[str, ...] | None = None  # an Update step fires for these (None: any)


async def register(client: DataverseClient, plan: WebhookPlan) -> str:
    """Create or update the plan's endpoint, steps and images; the endpoint's id."""
    endpoint = await _endpoint(client, plan)
    steps = await _steps_of(client, endpoint)
    for message in plan.messages:
        name = f"{plan.name}: {message}"
        step = steps.pop(name, None)
        step_id = await _step(client, plan, endpoint, message, step)
        await _image(client, plan, step_id, message)
    for stale in steps.values():
        await client.request("DELETE", f"sdkmessageprocessingsteps({stale['id']})")
    return endpoint


async def unregister(client: DataverseClient, name: str) -> bool:
    """Remove the endpoint named ``name`` and its steps; False when there was none."""
    found = await _find(client, "serviceendpoints", "serviceendpointid", f"name eq "
                        f"{odata.string_literal(name)}")
    if found is None:
        return False
    for step in (await _steps_of(client, found)).values():
        await client.request("DELETE", f"sdkmessageprocessingsteps({step['id']})")
    await client.request("DELETE", f"serviceendpoints({found})")
    return True


async def _endpoint(client: DataverseClient, plan: WebhookPlan) -> str:
    fields = {"name": plan.name, "url": plan.url, "contract": WEBHOOK,
              "authtype": WEBHOOK_KEY, "authvalue": plan.key}
    found = await _find(client, "serviceendpoints", "serviceendpointid",
                        f"name eq {odata.string_literal(plan.name)}")
    if found is not None:
        await client.request("PATCH", f"serviceendpoints({found})", json_body=fields,
                             headers={"If-Match": "*"})
        return found
    return await _create(client, "serviceendpoints", "serviceendpointid", fields)


async def _steps_of(client: DataverseClient, endpoint: str) -> dict[str, dict[str, Any]]:
    body = await client.get_json("sdkmessageprocessingsteps", {
        "$select": "sdkmessageprocessingstepid,name,filteringattributes",
        "$filter": f"_eventhandler_value eq {odata.guid(endpoint)}"})
    return {str(row["name"]): {"id": row["sdkmessageprocessingstepid"],
                               "filtering": row.get("filteringattributes")}
            for row in body.get("value") or []}


async def _step(client: DataverseClient, plan: WebhookPlan, endpoint: str, message: str,
                existing: dict[str, Any] | None) -> str:
    filtering = ",".join(plan.filtering) if plan.filtering and message == "Update" else None
    if existing is not None:
        if (existing["filtering"] or None) != filtering:
            await client.request("PATCH", f"sdkmessageprocessingsteps({existing['id']})",
                                 json_body={"filteringattributes": filtering},
                                 headers={"If-Match": "*"})
        return str(existing["id"])
    message_id = await _message(client, message)
    filter_id = await _find(client, "sdkmessagefilters", "sdkmessagefilterid", (
        f"_sdkmessageid_value eq {message_id} and primaryobjecttypecode eq "
        f"{odata.string_literal(plan.table)}"))
    if filter_id is None:
        raise FatalError(f"Dataverse cannot notify {message} of {plan.table} (no "
                         "sdkmessagefilter): is change notification possible for this table?")
    return await _create(client, "sdkmessageprocessingsteps", "sdkmessageprocessingstepid", {
        "name": f"{plan.name}: {message}", "stage": POST_OPERATION, "mode": ASYNC, "rank": 1,
        "asyncautodelete": True, "filteringattributes": filtering,
        "sdkmessageid@odata.bind": f"/sdkmessages({message_id})",
        "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({filter_id})",
        "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint})"})


async def _image(client: DataverseClient, plan: WebhookPlan, step_id: str,
                 message: str) -> None:
    attributes = ",".join(plan.image_columns) if plan.image_columns is not None else None
    found = await _find(client, "sdkmessageprocessingstepimages",
                        "sdkmessageprocessingstepimageid",
                        f"_sdkmessageprocessingstepid_value eq {odata.guid(step_id)}")
    fields = {"name": "post", "entityalias": "post", "imagetype": POST_IMAGE,
              "messagepropertyname": "Id" if message == "Create" else "Target",
              "attributes": attributes}
    if found is not None:
        await client.request("PATCH", f"sdkmessageprocessingstepimages({found})",
                             json_body=fields, headers={"If-Match": "*"})
        return
    step = f"/sdkmessageprocessingsteps({step_id})"
    await _create(client, "sdkmessageprocessingstepimages", "sdkmessageprocessingstepimageid",
                  {**fields, "sdkmessageprocessingstepid@odata.bind": step})


async def _message(client: DataverseClient, name: str) -> str:
    found = await _find(client, "sdkmessages", "sdkmessageid",
                        f"name eq {odata.string_literal(name)}")
    if found is None:
        raise FatalError(f"Dataverse has no sdkmessage named {name!r}")
    return found


async def _find(client: DataverseClient, entity_set: str, key: str, where: str) -> str | None:
    body = await client.get_json(entity_set, {"$select": key, "$filter": where, "$top": 1})
    rows: Sequence[dict[str, Any]] = body.get("value") or []
    return str(rows[0][key]) if rows else None


async def _create(client: DataverseClient, entity_set: str, key: str,
                  fields: dict[str, Any]) -> str:
    response = await client.request("POST", entity_set, json_body=fields, params={"$select": key},
                                    headers={"Prefer": "return=representation"})
    body = response.body if isinstance(response.body, dict) else {}
    return str(body[key])
