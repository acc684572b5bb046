"""``create_record``, ``update_record``, ``upsert_record``, ``delete_record``, ``get_record``.

A record is addressed by ``id`` (a GUID) or ``key`` (alternate-key columns → values; every
value is escaped, so ``O'Brien`` stays data). Writes always ask ``Prefer:
return=representation`` (selecting only the primary key unless ``return_record``), so the
output carries the record id even for an alternate key, and an upsert tells created (201)
from updated (200). Outputs follow :mod:`~connectors.dynamics365.actions.values`.

Every action may act as another user (``impersonate``); writes may run Dataverse's duplicate
detection (``suppress_duplicate_detection: false``); update, upsert and delete may be made
conditional on the version that was read (``if_match``). See
:mod:`~connectors.dynamics365.actions.request_options`.

Errors: an update of a missing row (``If-Match: *``) and a delete or get of one are
``FatalError`` with Dataverse's ``0x80040217`` kept; ``create_only`` on an existing row is a
``FatalError`` naming the conflict; an ``if_match`` version that is no longer the record's
says the record changed since it was read (see
:mod:`~connectors.dynamics365.actions.conditional` for what a repeat of such a write does).
429 and 5xx were already retried by the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from connectors.base import Params, StepContext
from connectors.dynamics365.actions import conditional, repeats
from connectors.dynamics365.actions.metadata import TableInfo, table_info
from connectors.dynamics365.actions.request_options import (
    IMPERSONATE,
    SUPPRESS_DUPLICATE_DETECTION,
    Impersonate,
    caller_headers,
    etag,
    if_match_field,
    refusal,
)
from connectors.dynamics365.actions.values import (
    ANNOTATIONS_PREFER,
    from_record,
    record_path,
    select_option,
    to_payload,
)
from connectors.dynamics365.actions.writes import (
    Write,
    create_row,
    made_before,
    read_back,
    write_options,
    written,
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
    impersonate: Impersonate | None = IMPERSONATE
    suppress_duplicate_detection: bool = SUPPRESS_DUPLICATE_DETECTION


def _etag(cls: type, value: str | int | None) -> str | None:
    return etag(value)


class UpdateRecordParams(RecordAddress):
    fields: dict[str, Any] = Field(description="Columns to change (same forms as create).",
                                   examples=[{"telephone1": "+1 555 0100"}])
    return_record: bool = Field(False, description="Return the updated record.", examples=[True])
    select: list[str] | None = Field(None, description="Columns of the returned record.",
                                     examples=[["name"]])
    if_match: str | None = if_match_field("Update")
    impersonate: Impersonate | None = IMPERSONATE
    suppress_duplicate_detection: bool = SUPPRESS_DUPLICATE_DETECTION

    _check_etag = field_validator("if_match", mode="before")(classmethod(_etag))


class UpsertRecordParams(UpdateRecordParams):
    mode: Literal["upsert", "create_only", "update_only"] = Field(
        "upsert", description="upsert; create_only (fails when the row exists); update_only "
                              "(fails when it does not).", examples=["create_only"])

    @model_validator(mode="after")
    def _conditional_update(self) -> UpsertRecordParams:
        if self.if_match is not None and self.mode == "create_only":
            raise ValueError("if_match applies to an existing record; create_only never "
                             "updates one")
        return self


class DeleteRecordParams(RecordAddress):
    missing_ok: bool = Field(False, description="A missing record is not an error.",
                             examples=[True])
    if_match: str | None = if_match_field("Delete")
    impersonate: Impersonate | None = IMPERSONATE

    _check_etag = field_validator("if_match", mode="before")(classmethod(_etag))


class GetRecordParams(RecordAddress):
    select: list[str] | None = Field(None, description="Columns to return (all when omitted).",
                                     examples=[["fullname", "parentcustomerid"]])
    expand: str | None = Field(None, description="OData $expand of related records.",
                               examples=["parentcustomerid_account($select=name)"])
    impersonate: Impersonate | None = IMPERSONATE


def client_of(ctx: StepContext) -> DataverseClient:
    return DataverseClient.of(ctx, "action")


async def create_record(params: CreateRecordParams, ctx: StepContext) -> dict[str, Any]:
    """Create one row; ``{"id", "record"?}`` (see :func:`create_row`)."""
    client = client_of(ctx)
    info = await table_info(client, params.table)
    body = await to_payload(client, info, params.fields)
    write = Write(params.return_record, params.select, params.impersonate,
                  params.suppress_duplicate_detection)
    response = await create_row(client, info, body, ctx, write)
    return written(info, response, params.return_record)


async def update_record(params: UpdateRecordParams, ctx: StepContext) -> dict[str, Any]:
    """Update one existing row (``If-Match: *``, or the ``if_match`` version: never
    creates); ``{"id", "record"?}``."""
    return await _patch(params, ctx, {"If-Match": "*"}, "update_record")


async def upsert_record(params: UpsertRecordParams, ctx: StepContext) -> dict[str, Any]:
    """Create or update by id or alternate key; ``{"id", "created", "record"?}``."""
    conditions = {"upsert": {}, "create_only": {"If-None-Match": "*"},
                  "update_only": {"If-Match": "*"}}[params.mode]
    return await _patch(params, ctx, conditions, f"upsert_record ({params.mode})")


@dataclass(frozen=True)
class _Patch:
    """One PATCH of a record: where it goes, what it sends, and how it answers."""

    client: DataverseClient
    info: TableInfo
    path: str
    body: dict[str, Any]
    params: UpdateRecordParams
    write: Write
    what: str

    @property
    def answer(self) -> tuple[dict[str, str], dict[str, str]]:
        return write_options(self.info, self.params.return_record, self.params.select)

    async def reread(self, conflict: FatalError) -> DataverseResponse:
        """The record as the PATCH would have answered it (``conflict`` if it is gone)."""
        query, headers = self.answer
        return await made_before(self.client, self.path, query,
                                  {**read_back(headers), **self.write.caller}, conflict)


async def _patch(params: UpdateRecordParams, ctx: StepContext, conditions: dict[str, str],
                 what: str) -> dict[str, Any]:
    client = client_of(ctx)
    info, path = await record_path(client, params.table, params.record_id, params.key)
    write = Write(params.return_record, params.select, params.impersonate,
                  params.suppress_duplicate_detection)
    patch = _Patch(client, info, path, await to_payload(client, info, params.fields), params,
                   write, what)
    if params.if_match is not None:
        conditions = {"If-Match": params.if_match}
    query, headers = patch.answer
    sent = {**headers, **write.headers(), **conditions}
    try:
        response = await client.request("PATCH", path, params=query, json_body=patch.body,
                                        headers=sent)
    except FatalError as exc:
        return await _patch_refused(patch, exc, conditions, ctx)
    return {**written(info, response, params.return_record), "created": response.status == 201}


async def _patch_refused(patch: _Patch, exc: FatalError, conditions: dict[str, str],
                         ctx: StepContext) -> dict[str, Any]:
    """The output when a refusal is this step's own earlier effect; else the error raised."""
    error = _explained(exc, patch.what, patch.info, patch.params)
    may_repeat = exc.resent or ctx.may_repeat
    if _created_before(exc, conditions, may_repeat):
        # create_only sent again: the row it finds is the one its first copy created.
        response = await patch.reread(error)
        repeats.recognised(ctx, patch.what, patch.path)
        return {**written(patch.info, response, patch.params.return_record), "created": True}
    if may_repeat and conditional.is_mismatch(exc, patch.params.if_match) and \
            await conditional.already_written(patch.client, patch.info, patch.path,
                                              patch.body, patch.write.caller):
        # a conditional update sent again: its first copy moved the record to a new version
        response = await patch.reread(error)
        repeats.recognised(ctx, patch.what, patch.path)
        return {**written(patch.info, response, patch.params.return_record), "created": False}
    raise error from exc


def _created_before(exc: FatalError, conditions: dict[str, str], may_repeat: bool) -> bool:
    return exc.status == 412 and "If-None-Match" in conditions and may_repeat


def _explained(exc: FatalError, what: str, info: TableInfo,
               address: RecordAddress) -> FatalError:
    refusal_said = refusal(exc, what, getattr(address, "impersonate", None))
    if refusal_said is not None:
        return refusal_said
    named = f"{info.entity_set} record " + (f"with id {address.record_id}" if address.record_id
                                            else f"with key {address.key}")
    version = getattr(address, "if_match", None)
    if conditional.is_mismatch(exc, version):
        return conditional.mismatch(exc, what, named, str(version))
    if exc.status == 412:
        return FatalError(f"{what}: conflict, a {named} already exists ({exc.message})",
                          status=exc.status, code=exc.code)
    return missing(exc, what, named)


async def delete_record(params: DeleteRecordParams, ctx: StepContext) -> dict[str, Any]:
    """Delete one row (only at the ``if_match`` version when given); ``{"deleted": bool}``
    (false only with ``missing_ok``)."""
    client = client_of(ctx)
    info, path = await record_path(client, params.table, params.record_id, params.key)
    headers = caller_headers(params.impersonate)
    if params.if_match is not None:
        headers["If-Match"] = params.if_match
    return await deleted(client.request("DELETE", path, headers=headers), params.missing_ok,
                         lambda exc: _explained(exc, "delete_record", info, params), ctx)


async def get_record(params: GetRecordParams, ctx: StepContext) -> dict[str, Any]:
    """One row with formatted values; ``{"id", "record"}``."""
    client = client_of(ctx)
    info, path = await record_path(client, params.table, params.record_id, params.key)
    query = select_option(info, params.select)
    if params.expand:
        query["$expand"] = params.expand
    headers = {"Prefer": ANNOTATIONS_PREFER, **caller_headers(params.impersonate)}
    body = await explained(client.get_json(path, query, headers),
                           lambda exc: _explained(exc, "get_record", info, params))
    return {"id": body.get(info.primary_id), "record": from_record(body)}


_spec = partial(action_spec, "dynamics365")

SPECS = (
    _spec("create_record", CreateRecordParams, create_record, "Create a Dataverse record.",
          "keyed", "the record's primary key is derived from the step identity, so a create "
          "sent again finds the record its first copy made (no second record), also when "
          "duplicate detection finds that copy a duplicate"),
    _spec("update_record", UpdateRecordParams, update_record,
          "Update a Dataverse record by id or alternate key (never creates).", "natural",
          "writing the same values again changes nothing; with if_match, a repeat finds the "
          "version its first copy made and succeeds if the record holds every value it "
          "writes, else fails as changed since read"),
    _spec("upsert_record", UpsertRecordParams, upsert_record,
          "Create or update a Dataverse record by id or alternate key.", "natural",
          "the same key and values again change nothing; create_only sent again finds the "
          "record its first copy created; if_match as in update_record"),
    _spec("delete_record", DeleteRecordParams, delete_record, "Delete a Dataverse record.",
          "natural", "a delete sent again finds the record gone and succeeds"),
    _spec("get_record", GetRecordParams, get_record,
          "Read one Dataverse record with formatted values (select, expand).", "natural",
          "reads only"),
)
