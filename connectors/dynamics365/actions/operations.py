"""``execute_action``, ``execute_function`` and ``request`` (a raw Web API call).

Actions are POSTed with their parameters as the JSON body; functions are GETs whose
parameters always travel as aliases, ``Name(A=@p1,B=@p2)?@p1=…&@p2=…``, each value an OData
literal (strings quoted with quotes doubled, then percent-encoded), so no value can change
the URL's structure. A parameter given as ``{table, id}`` or ``{table, key}`` becomes an
entity reference ``{"@odata.id": "<set>(<key>)"}``. Either may be bound to a record (``table``
with ``id``/``key``: ``<set>(<id>)/Microsoft.Dynamics.CRM.<Name>``), to a table (``table``
alone) or unbound. Their output is ``{"status", "result"}``: the response body without
``@odata.context`` (null for 204).

``request`` sends anything else relative to the Web API root (never to another host) and
returns ``{"status", "headers", "json"}``; statuses in ``allow_status`` come back as output
(with ``json`` the error body) instead of failing the step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator

from connectors.base import ActionSpec, Params, StepContext
from connectors.dynamics365.actions.metadata import table_info
from connectors.dynamics365.actions.records import KeyValue, client_of
from connectors.dynamics365.actions.values import bind_key, record_key
from connectors.dynamics365.client import DataverseClient
from connectors.errors import FatalError
from connectors.odata import escaping as odata

CONNECTION_TYPES = ("dynamics365",)
NAMESPACE = "Microsoft.Dynamics.CRM."


class OperationParams(Params):
    name: str = Field(description="The action or function name.",
                      examples=["WinOpportunity", "RetrieveTotalRecordCount"])
    table: str | None = Field(
        None, description="Bind to this table (with record_id/key: to a row).",
        examples=["incidents"])
    record_id: str | None = Field(None, description="Bind to this row (GUID).",
                                  examples=["<guid>"])
    key: dict[str, KeyValue] | None = Field(None, description="Or the row's alternate key.",
                                            examples=[{"ticketnumber": "CAS-1"}])
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Parameters by name; {table, id} is an entity "
        "reference.", examples=[{"Status": 3}, {"EntityNames": ["account"]}])

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return odata.path_segment(value.removeprefix(NAMESPACE))


class RequestParams(Params):
    method: Literal["GET", "POST", "PATCH", "PUT", "DELETE"] = Field(
        "GET", description="HTTP method.", examples=["GET"])
    path: str = Field(description="Path relative to the Web API root (…/api/data/v9.2/).",
                      examples=["accounts?$top=1", "RetrieveVersion()"])
    query: dict[str, str | int] = Field(default_factory=dict,
                                        description="Query options (encoded for you).",
                                        examples=[{"$select": "name"}])
    body: Any = Field(None, description="A JSON body.", examples=[{"name": "x"}])
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers.",
                                    examples=[{"Prefer": "return=representation"}])
    allow_status: list[int] = Field(default_factory=list, description=(
        "Error statuses returned as output instead of failing."), examples=[[404]])

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if "://" in value or value.startswith("//") or ".." in value.split("?")[0]:
            raise ValueError("path must be relative to the Web API root")
        return value.lstrip("/")

    @field_validator("headers")
    @classmethod
    def _no_authorization(cls, value: dict[str, str]) -> dict[str, str]:
        if any(name.lower() == "authorization" for name in value):
            raise ValueError("the Authorization header comes from the connection")
        return value


async def _target(client: DataverseClient, params: OperationParams) -> str:
    """``Name``, ``<set>/Microsoft.Dynamics.CRM.Name`` or ``<set>(<id>)/…Name``."""
    if params.table is None:
        if params.record_id is not None or params.key:
            raise FatalError("a bound operation needs table as well as id or key")
        return params.name
    info = await table_info(client, params.table)
    addressed = params.record_id is not None or params.key
    row = record_key(params.record_id, params.key) if addressed else ""
    return f"{info.entity_set}{row}/{NAMESPACE}{params.name}"


async def _parameter(client: DataverseClient, value: Any) -> Any:
    if isinstance(value, Mapping) and "table" in value and ("id" in value or "key" in value):
        target = await table_info(client, str(value["table"]))
        return {"@odata.id": target.entity_set + bind_key(value.get("id"), value.get("key"))}
    return value


def function_literal(value: Any) -> str:
    """A function parameter value: OData literal, or JSON for objects and arrays."""
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, separators=(",", ":"))
    return odata.literal(value)


def _result(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k != "@odata.context"}
    return body


async def execute_action(params: OperationParams, ctx: StepContext) -> dict[str, Any]:
    """POST the action; ``{"status", "result"}``."""
    client = client_of(ctx)
    body = {name: await _parameter(client, v) for name, v in params.parameters.items()}
    response = await client.request("POST", await _target(client, params), json_body=body)
    return {"status": response.status, "result": _result(response.body)}


async def execute_function(params: OperationParams, ctx: StepContext) -> dict[str, Any]:
    """GET the function with aliased parameters; ``{"status", "result"}``."""
    client = client_of(ctx)
    aliases: dict[str, str | int] = {}
    names = []
    for index, (name, value) in enumerate(params.parameters.items(), start=1):
        names.append(f"{odata.identifier(name)}=@p{index}")
        aliases[f"@p{index}"] = function_literal(await _parameter(client, value))
    path = f"{await _target(client, params)}({','.join(names)})"
    response = await client.request("GET", path, params=aliases)
    return {"status": response.status, "result": _result(response.body)}


async def raw_request(params: RequestParams, ctx: StepContext) -> dict[str, Any]:
    """Send the call; ``{"status", "headers", "json"}``."""
    client = client_of(ctx)
    try:
        response = await client.request(params.method, params.path, params=params.query or None,
                                        json_body=params.body, headers=params.headers)
    except FatalError as exc:
        if exc.status not in params.allow_status:
            raise
        error = {"error": {"code": exc.code or "", "message": exc.message}}
        return {"status": exc.status, "headers": {}, "json": error}
    return {"status": response.status, "headers": dict(response.headers), "json": response.body}


SPECS = (
    ActionSpec(key="dynamics365.execute_action", params=OperationParams, run=execute_action,
               connection_types=CONNECTION_TYPES,
               summary="Run a Dataverse action (unbound, or bound to a table or record).",
               idempotency="none",
               idempotency_note="an action's effect is its own (WinOpportunity, SendEmail …): "
                                "if the step runs again after a crash or a lost answer, the "
                                "action runs again"),
    ActionSpec(key="dynamics365.execute_function", params=OperationParams,
               run=execute_function, connection_types=CONNECTION_TYPES,
               summary="Call a Dataverse function (unbound, or bound to a table or record).",
               idempotency="natural", idempotency_note="functions only read"),
    ActionSpec(key="dynamics365.request", params=RequestParams, run=raw_request,
               connection_types=CONNECTION_TYPES,
               summary="Send a raw request relative to the Dataverse Web API.",
               idempotency="conditional",
               idempotency_note="GET, PATCH with a key, PUT and DELETE repeat harmlessly; a POST "
                                "runs again if the step runs again"),
)
