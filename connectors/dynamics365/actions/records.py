"""``create_record``, ``update_record``, ``upsert_record``, ``delete_record``, ``get_record``.

A record is addressed by ``id`` (a GUID) or ``key`` (alternate-key columns → values; every
value is escaped, so ``O'Brien`` stays data). Writes always ask ``Prefer:
return=representation`` (selecting only the primary key unless ``return_record``), so the
output carries the record id even for an alternate key, and an upsert tells created (201)
from updated (200). Outputs follow :mod:`~connectors.dynamics365.actions.values`.

Errors: an update of a missing row (``If-Match: *``) and a delete or get of one are
``FatalError`` with Dataverse's ``0x80040217`` kept; ``create_only`` on an existing row is a
``FatalError`` naming the conflict. 429 and 5xx were already retried by the client.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from connectors.base import Params, StepContext
from connectors.dynamics365.actions import repeats
from connectors.dynamics365.actions.metadata import TableInfo, table_info
from connectors.dynamics365.actions.values import (
    ANNOTATIONS_PREFER,
    from_record,
    record_path,
    select_option,
    to_payload,
)
from connectors.dynamics365.client import DataverseClient, DataverseResponse
from connectors.errors import FatalError
from connectors.odata import escaping as odata
from connectors.odata.records import action_spec, deleted, explained, missing

KeyValue = str | int | float | bool | None
TABLE = Field(description="The table: entity set name or logical name.",
              examples=["accounts", "contact"])


class RecordAddress(Params):
    """A table and one of its rows, by id or alternate key."""

    table: str = TABLE
    record_id: str | None = Field(None, description="The record's id (GUID).",
                           examples=["8f1b8c4e-0000-4000-8000-000000000001"])
    key: dict[str, KeyValue] | None = Field(
        None, description="Alternate-key columns and values, instead of record_id.",
        examples=[{"accountnumber": "A-1001"}])

    @field_validator("record_id")
    @classmethod
    def _guid(cls, value: str | None) -> str | None:
        return None if value is None else odata.guid(value)

    @model_validator(mode="after")
    def _one_address(self) -> RecordAddress:
        if (self.record_id is None) == (not self.key):
            raise ValueError("give exactly one of record_id and key")
        return self


class CreateRecordParams(Params):
    table: str = TABLE
    fields: dict[str, Any] = Field(
        description="Column values; lookups as {table, id} or {table, key}; option sets by "
                    "value or label.",
        examples=[{"name": "Contoso", "industrycode": "Consulting",
                   "primarycontactid": {"table": "contacts", "id": "<guid>"}}])
    return_record: bool = Field(False, description="Return the created record, not just its id.",
                                examples=[True])
    select: list[str] | None = Field(None, description="Columns of the returned record.",
                                     examples=[["name", "statuscode"]])


class UpdateRecordParams(RecordAddress):
    fields: dict[str, Any] = Field(description="Columns to change (same forms as create).",
                                   examples=[{"telephone1": "+1 555 0100"}])
    return_record: bool = Field(False, description="Return the updated record.", examples=[True])
    select: list[str] | None = Field(None, description="Columns of the returned record.",
                                     examples=[["name"]])


class UpsertRecordParams(UpdateRecordParams):
    mode: Literal["upsert", "create_only", "update_only"] = Field(
        "upsert", description="upsert; create_only (fails when the row exists); update_only "
                              "(fails when it does not).", examples=["create_only"])


class DeleteRecordParams(RecordAddress):
    missing_ok: bool = Field(False, description="A missing record is not an error.",
                             examples=[True])


class GetRecordParams(RecordAddress):
    select: list[str] | None = Field(None, description="Columns to return (all when omitted).",
                                     examples=[["fullname", "parentcustomerid"]])
    expand: str | None = Field(None, description="OData $expand of related records.",
                               examples=["parentcustomerid_account($select=name)"])


def client_of(ctx: StepContext) -> DataverseClient:
    return DataverseClient.of(ctx, "action")


def write_options(info: TableInfo, return_record: bool,
                  select: list[str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """(query, headers) of a write that answers with the record (or just its id)."""
    prefer = "return=representation"
    if return_record:
        return select_option(info, select), {"Prefer": f"{prefer},{ANNOTATIONS_PREFER}"}
    return {"$select": info.primary_id}, {"Prefer": prefer}


def written(info: TableInfo, response: DataverseResponse, return_record: bool) -> dict[str, Any]:
    body = response.body if isinstance(response.body, dict) else {}
    output: dict[str, Any] = {"id": body.get(info.primary_id)}
    if return_record:
        output["record"] = from_record(body)
    return output


async def create_record(params: CreateRecordParams, ctx: StepContext) -> dict[str, Any]:
    """Create one row; ``{"id", "record"?}``.

    The row's primary key is derived from the step identity unless ``fields`` gives one, so
    a create sent again (after a lost answer, a crash, a retry) collides with the row its
    first copy made; that collision is this step's own earlier success, and the row is
    read back instead of a second one being made."""
    client = client_of(ctx)
    info = await table_info(client, params.table)
    query, headers = write_options(info, params.return_record, params.select)
    body = await to_payload(client, info, params.fields)
    derived = body.get(info.primary_id) is None
    record_id = ctx.derived_id() if derived else str(body[info.primary_id])
    body[info.primary_id] = record_id
    try:
        response = await client.request("POST", info.entity_set, params=query, json_body=body,
                                        headers=headers)
    except FatalError as exc:
        ours = derived or exc.resent or ctx.may_repeat
        if not (ours and repeats.is_duplicate_key(exc.status, exc.code, exc.message)):
            raise
        path = info.entity_set + odata.key_segment(record_id)
        response = await _made_before(client, path, query, _read_back(headers), exc)
        repeats.recognised(ctx, "create_record", path)
    return written(info, response, params.return_record)


async def _made_before(client: DataverseClient, path: str, query: dict[str, str],
                       headers: dict[str, str], conflict: FatalError) -> DataverseResponse:
    """The row at ``path``, which a duplicate answer says an earlier copy made; when it is
    not there, the duplicate was someone else's and ``conflict`` is raised."""
    try:
        return await client.request("GET", path, params=query, headers=headers)
    except FatalError as exc:
        if exc.status == 404:
            raise conflict from None
        raise


def _read_back(write_headers: dict[str, str]) -> dict[str, str]:
    """The headers of a GET that answers as the write would have (annotations kept)."""
    prefer = [p for p in write_headers.get("Prefer", "").split(",")
              if p.startswith("odata.include-annotations")]
    return {"Prefer": prefer[0]} if prefer else {}


async def update_record(params: UpdateRecordParams, ctx: StepContext) -> dict[str, Any]:
    """Update one existing row (``If-Match: *``: never creates); ``{"id", "record"?}``."""
    return await _patch(params, ctx, {"If-Match": "*"}, "update_record")


async def upsert_record(params: UpsertRecordParams, ctx: StepContext) -> dict[str, Any]:
    """Create or update by id or alternate key; ``{"id", "created", "record"?}``."""
    conditions = {"upsert": {}, "create_only": {"If-None-Match": "*"},
                  "update_only": {"If-Match": "*"}}[params.mode]
    return await _patch(params, ctx, conditions, f"upsert_record ({params.mode})")


async def _patch(params: UpdateRecordParams, ctx: StepContext, conditions: dict[str, str],
                 what: str) -> dict[str, Any]:
    client = client_of(ctx)
    info, path = await record_path(client, params.table, params.record_id, params.key)
    query, headers = write_options(info, params.return_record, params.select)
    body = await to_payload(client, info, params.fields)
    try:
        response = await client.request("PATCH", path, params=query, json_body=body,
                                        headers={**headers, **conditions})
    except FatalError as exc:
        if not _created_before(exc, conditions, ctx):
            raise _explained(exc, what, info, params) from exc
        # create_only sent again: the row it finds is the one its first copy created.
        response = await _made_before(client, path, query, _read_back(headers),
                                      _explained(exc, what, info, params))
        repeats.recognised(ctx, what, path)
        return {**written(info, response, params.return_record), "created": True}
    return {**written(info, response, params.return_record), "created": response.status == 201}


def _created_before(exc: FatalError, conditions: dict[str, str], ctx: StepContext) -> bool:
    return exc.status == 412 and "If-None-Match" in conditions and (exc.resent
                                                                    or ctx.may_repeat)


def _explained(exc: FatalError, what: str, info: TableInfo, address: RecordAddress) -> FatalError:
    named = f"{info.entity_set} record " + (f"with id {address.record_id}" if address.record_id
                                            else f"with key {address.key}")
    if exc.status == 412:
        return FatalError(f"{what}: conflict, a {named} already exists ({exc.message})",
                          status=exc.status, code=exc.code)
    return missing(exc, what, named)


async def delete_record(params: DeleteRecordParams, ctx: StepContext) -> dict[str, Any]:
    """Delete one row; ``{"deleted": bool}`` (false only with ``missing_ok``)."""
    client = client_of(ctx)
    info, path = await record_path(client, params.table, params.record_id, params.key)
    return await deleted(client.request("DELETE", path), params.missing_ok,
                         lambda exc: _explained(exc, "delete_record", info, params), ctx)


async def get_record(params: GetRecordParams, ctx: StepContext) -> dict[str, Any]:
    """One row with formatted values; ``{"id", "record"}``."""
    client = client_of(ctx)
    info, path = await record_path(client, params.table, params.record_id, params.key)
    query = select_option(info, params.select)
    if params.expand:
        query["$expand"] = params.expand
    body = await explained(client.get_json(path, query, {"Prefer": ANNOTATIONS_PREFER}),
                           lambda exc: _explained(exc, "get_record", info, params))
    return {"id": body.get(info.primary_id), "record": from_record(body)}


_spec = partial(action_spec, "dynamics365")

SPECS = (
    _spec("create_record", CreateRecordParams, create_record, "Create a Dataverse record.",
          "keyed", "the record's primary key is derived from the step identity, so a create "
          "sent again finds the record its first copy made (no second record)"),
    _spec("update_record", UpdateRecordParams, update_record,
          "Update a Dataverse record by id or alternate key (never creates).", "natural",
          "writing the same values again changes nothing"),
    _spec("upsert_record", UpsertRecordParams, upsert_record,
          "Create or update a Dataverse record by id or alternate key.", "natural",
          "the same key and values again change nothing; create_only sent again finds the "
          "record its first copy created"),
    _spec("delete_record", DeleteRecordParams, delete_record, "Delete a Dataverse record.",
          "natural", "a delete sent again finds the record gone and succeeds"),
    _spec("get_record", GetRecordParams, get_record,
          "Read one Dataverse record with formatted values (select, expand).", "natural",
          "reads only"),
)
