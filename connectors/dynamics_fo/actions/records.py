"""``create_record``, ``update_record``, ``upsert_record``, ``delete_record``, ``get_record``.

An entity is addressed by its **full key** (``{"CustomerAccount": "US-001"}``; ``dataAreaId``
comes from the step's or connection's company when left out, and the request carries
``cross-company=true`` so any company's row is found; see
:mod:`connectors.dynamics_fo.company`). Values are escaped, so ``O'Brien`` stays data.

F&O has no upsert request: ``upsert_record`` PATCHes the key and, when the row is missing
(404), POSTs it with the key's fields; a create that loses a race to another writer ("already
exists") PATCHes once more. A failed X++ write (``AxODataWriteException``) is a
``FatalError`` with F&O's inner message. 429 and 5xx were already retried by the client.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

from pydantic import Field

from connectors.base import StepContext
from connectors.dynamics_fo.actions.common import (
    EntityParams,
    KeyedParams,
    client_of,
    has_key,
    record_of,
)
from connectors.dynamics_fo.client import FoClient
from connectors.dynamics_fo.company import CompanyScope, key_of, key_path, with_company
from connectors.dynamics_fo.metadata import EntityInfo, entity_info
from connectors.errors import FatalError
from connectors.odata.records import action_spec, deleted, explained, missing

FIELDS = Field(description="Field values, by OData property name; enums by member name.",
               examples=[{"OrganizationName": "Contoso", "CreditLimitIsMandatory": "Yes"}])


class CreateRecordParams(EntityParams):
    fields: dict[str, Any] = FIELDS


class UpdateRecordParams(KeyedParams):
    fields: dict[str, Any] = FIELDS
    return_record: bool = Field(False, description="Read the record back after the update.",
                                examples=[True])


class UpsertRecordParams(UpdateRecordParams):
    mode: Literal["upsert", "update_only"] = Field(
        "upsert", description="upsert; update_only (fails when the record does not exist).",
        examples=["upsert"])


class DeleteRecordParams(KeyedParams):
    missing_ok: bool = Field(False, description="A missing record is not an error.",
                             examples=[True])


class GetRecordParams(KeyedParams):
    select: list[str] | None = Field(None, description="Fields to return (all when omitted).",
                                     examples=[["CustomerAccount", "OrganizationName"]])


async def _address(client: FoClient, params: KeyedParams
                   ) -> tuple[EntityInfo, CompanyScope, str, dict[str, str], dict[str, Any]]:
    info = await entity_info(client, params.entity)
    scope = params.scope(client)
    path, query, key = key_path(info, params.key, scope)
    return info, scope, path, query, key


def _explained(exc: FatalError, what: str, info: EntityInfo, key: dict[str, Any]) -> FatalError:
    return missing(exc, what, f"{info.set_name} record with key {key}")


async def create_record(params: CreateRecordParams, ctx: StepContext) -> dict[str, Any]:
    """Create one entity; ``{"key", "record"}`` as F&O stored it.

    A create sent again (a lost answer, a crash) is refused by F&O as "already exists"
    when the fields hold the entity's key; this step's earlier copy made that record, so
    it is read back by its key instead of failing (no key in the fields: no protection)."""
    client = client_of(ctx)
    info = await entity_info(client, params.entity)
    scope = params.scope(client)
    body = with_company(info, params.fields, scope)
    try:
        response = await client.request("POST", info.set_name, json_body=body)
    except FatalError as exc:
        if not (already_exists(exc) and (exc.resent or ctx.may_repeat) and has_key(info, body)):
            raise
        path, query, key = key_path(info, key_of(info, body), scope)
        record = record_of(await client.get_json(path, query))
        if ctx.log is not None:
            ctx.log.info("step.repeat_recognised", action="create_record", target=path)
        return {"key": key, "record": record}
    record = record_of(response.body)
    return {"key": key_of(info, record), "record": record}


def already_exists(exc: FatalError) -> bool:
    """F&O's answer to a create whose key is taken (an X++ write failure)."""
    return "already exists" in exc.message


async def update_record(params: UpdateRecordParams, ctx: StepContext) -> dict[str, Any]:
    """Update one existing entity (never creates); ``{"key", "record"?}``."""
    client = client_of(ctx)
    info, _, path, query, key = await _address(client, params)
    await explained(client.request("PATCH", path, params=query, json_body=params.fields),
                    lambda exc: _explained(exc, "update_record", info, key))
    return await _written(client, params, path, query, key, created=None)


async def upsert_record(params: UpsertRecordParams, ctx: StepContext) -> dict[str, Any]:
    """Update the entity with this key, or create it; ``{"key", "created", "record"?}``."""
    client = client_of(ctx)
    info, _, path, query, key = await _address(client, params)
    try:
        await client.request("PATCH", path, params=query, json_body=params.fields)
        return await _written(client, params, path, query, key, created=False)
    except FatalError as exc:
        if exc.status != 404 or params.mode == "update_only":
            raise _explained(exc, f"upsert_record ({params.mode})", info, key) from exc
    try:
        await client.request("POST", info.set_name, json_body={**params.fields, **key})
    except FatalError as exc:
        if not already_exists(exc):
            raise
        await client.request("PATCH", path, params=query, json_body=params.fields)  # lost a race
        return await _written(client, params, path, query, key, created=False)
    return await _written(client, params, path, query, key, created=True)


async def _written(client: FoClient, params: UpdateRecordParams, path: str,
                   query: dict[str, str], key: dict[str, Any],
                   created: bool | None) -> dict[str, Any]:
    output: dict[str, Any] = {"key": key}
    if created is not None:
        output["created"] = created
    if params.return_record:
        output["record"] = record_of(await client.get_json(path, query))
    return output


async def delete_record(params: DeleteRecordParams, ctx: StepContext) -> dict[str, Any]:
    """Delete one entity; ``{"deleted": bool}`` (false only with ``missing_ok``)."""
    client = client_of(ctx)
    info, _, path, query, key = await _address(client, params)
    return await deleted(client.request("DELETE", path, params=query), params.missing_ok,
                         lambda exc: _explained(exc, "delete_record", info, key), ctx)


async def get_record(params: GetRecordParams, ctx: StepContext) -> dict[str, Any]:
    """One entity by its full key; ``{"key", "record"}``."""
    client = client_of(ctx)
    info, _, path, query, key = await _address(client, params)
    if params.select:
        query["$select"] = ",".join(dict.fromkeys([*info.key, *params.select]))
    body = await explained(client.get_json(path, query),
                           lambda exc: _explained(exc, "get_record", info, key))
    return {"key": key, "record": record_of(body)}


_spec = partial(action_spec, "dynamics_fo")

SPECS = (
    _spec("create_record", CreateRecordParams, create_record, "Create an F&O entity record.",
          "conditional", "when fields hold the entity's whole key, a create sent again finds "
          "the record its first copy made; a key F&O numbers itself is not protected"),
    _spec("update_record", UpdateRecordParams, update_record,
          "Update an F&O entity record by its full key (never creates).", "natural",
          "writing the same values again changes nothing"),
    _spec("upsert_record", UpsertRecordParams, upsert_record,
          "Update an F&O entity record by its full key, or create it.", "natural",
          "addressed by its key: sent again, it updates the record its first copy made"),
    _spec("delete_record", DeleteRecordParams, delete_record, "Delete an F&O entity record.",
          "natural", "a delete sent again finds the record gone and succeeds"),
    _spec("get_record", GetRecordParams, get_record,
          "Read one F&O entity record by its full key, in any company.", "natural",
          "reads only"),
)
