"""``execute_action`` (an OData action bound to an entity or its collection) and ``request``
(any request under ``/data/``, for what the other actions do not cover).

Actions are ``POST <set>[(<key>)]/Microsoft.Dynamics.DataEntities.<Action>`` with their
parameters as the JSON body's members; the output's ``value`` is the action's return value
(``None`` for a ``204``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from connectors.base import ActionSpec, Params, StepContext
from connectors.dynamics_fo.actions.common import (
    CONNECTION_TYPES,
    EntityParams,
    KeyValue,
    client_of,
)
from connectors.dynamics_fo.company import CROSS_COMPANY, key_path
from connectors.dynamics_fo.metadata import entity_info
from connectors.odata import escaping as odata

NAMESPACE = "Microsoft.Dynamics.DataEntities"
_RELATIVE_PATH = re.compile(r"^[A-Za-z0-9_$][^?#\s]*$")


class ExecuteActionParams(EntityParams):
    action: str = Field(description="The action's name, with or without its namespace.",
                        examples=["GetOpenOrderCount", f"{NAMESPACE}.CancelOrder"])
    key: dict[str, KeyValue] | None = Field(
        None, description="The entity the action is bound to; omit for a collection action.",
        examples=[{"SalesOrderNumber": "SO-0001"}])
    parameters: dict[str, Any] = Field(default_factory=dict,
                                       description="The action's parameters.",
                                       examples=[{"customerAccount": "US-001"}])

    @field_validator("action")
    @classmethod
    def _action_name(cls, value: str) -> str:
        return odata.path_segment(value)


class RequestParams(Params):
    method: Literal["GET", "POST", "PATCH", "PUT", "DELETE"] = Field(
        "GET", description="HTTP method.")
    path: str = Field(description="Path under /data/, without a query string.",
                      examples=["CustomersV3/$count", "$metadata"])
    query: dict[str, str | int] = Field(default_factory=dict, description="Query options.",
                                        examples=[{"cross-company": "true", "$top": 5}])
    json_body: Any = Field(None, alias="json", description="JSON body.",
                           examples=[{"OrganizationName": "Contoso"}])

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if not _RELATIVE_PATH.match(value) or ".." in value or "//" in value:
            raise ValueError("a path under /data/, e.g. CustomersV3 (no host, no query string)")
        return value


async def execute_action(params: ExecuteActionParams, ctx: StepContext) -> dict[str, Any]:
    """``{"status", "value"}``: the action's return value (``value`` of the body), or None."""
    client = client_of(ctx)
    info = await entity_info(client, params.entity)
    scope = params.scope(client)
    name = params.action if "." in params.action else f"{NAMESPACE}.{params.action}"
    if params.key is not None:
        path, query, _ = key_path(info, params.key, scope)
    else:
        path = info.set_name
        query = dict(CROSS_COMPANY) if scope.cross_company and info.company_specific else {}
    response = await client.request("POST", f"{path}/{name}", params=query,
                                    json_body=params.parameters)
    body = response.body
    value = body.get("value", body) if isinstance(body, dict) else body
    return {"status": response.status, "value": value}


async def request(params: RequestParams, ctx: StepContext) -> dict[str, Any]:
    """``{"status", "headers", "body"}`` of a 2xx answer (others raise as usual)."""
    client = client_of(ctx)
    response = await client.request(params.method, params.path, params=params.query or None,
                                    json_body=params.json_body)
    body = response.body
    if body is None and response.raw:
        body = response.raw.decode("utf-8", "replace")
    return {"status": response.status, "headers": dict(response.headers), "body": body}


SPECS = (
    ActionSpec(key="dynamics_fo.execute_action", params=ExecuteActionParams,
               run=execute_action, connection_types=CONNECTION_TYPES,
               summary="Run an OData action of an F&O entity (bound to a record or the "
                       "collection).",
               idempotency="none",
               idempotency_note="an action's effect is its own: if the step runs again after "
                                "a crash or a lost answer, the action runs again"),
    ActionSpec(key="dynamics_fo.request", params=RequestParams, run=request,
               connection_types=CONNECTION_TYPES,
               summary="Send any request under the F&O /data/ service.",
               idempotency="conditional",
               idempotency_note="GET, PATCH, PUT and DELETE repeat harmlessly; a POST runs "
                                "again if the step runs again"),
)
