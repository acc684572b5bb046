"""``batch``: many writes at once, with a result per row.

**Rows of one table** (``table``, ``operation`` create | update | upsert, ``rows``): the rows
are cut into chunks of ``chunk_size`` (default 1,000) and each chunk is one bulk message,
``CreateMultiple`` / ``UpdateMultiple`` / ``UpsertMultiple`` (reference Addendum), with up to
``parallel`` chunks in flight. A bulk message is one transaction on standard tables, so one
bad row fails its chunk; that chunk is then sent again as ``$batch`` with
``odata.continue-on-error`` (one request per row), so only the bad rows fail. With
``strategy: batch`` chunks go straight to ``$batch``. An update row carries its primary id
column; an upsert row is addressed by ``key_columns`` (an alternate key) or its primary id
(neither: it is created).

**Mixed requests** (``requests``): each ``{operation, table, id | key, fields}`` becomes one
``$batch`` request; ``atomic: true`` puts them in one change set (all or nothing, at most
1,000), otherwise they run with continue-on-error.

Output: ``{"results": [{"index", "ok", "id", "error"}], "succeeded", "failed", "requests"
(HTTP requests sent), "fallbacks" (chunks retried as $batch)}``; ``error`` is ``{"status",
"code", "message"}`` or null. ``id`` is null where Dataverse does not say it (an
``UpsertMultiple`` row addressed by an alternate key answers 204 without ids). A row whose
values cannot be converted (e.g. an unknown option label) fails alone, before any request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from connectors.base import ActionSpec, Params, StepContext
from connectors.dynamics365.actions.batch_wire import BatchPart, PartResult, send_batch
from connectors.dynamics365.actions.metadata import TableInfo, table_info
from connectors.dynamics365.actions.records import KeyValue, client_of
from connectors.dynamics365.actions.values import bind_key, record_key, to_payload
from connectors.dynamics365.client import DataverseClient
from connectors.errors import FatalError

NAMESPACE = "Microsoft.Dynamics.CRM."
BULK_MESSAGE = {"create": "CreateMultiple", "update": "UpdateMultiple",
                "upsert": "UpsertMultiple"}
MAX_BATCH_PARTS = 1000


class BatchRequest(Params):
    operation: Literal["create", "update", "upsert", "delete"] = Field(
        description="What to do with the row.", examples=["update"])
    table: str = Field(description="The row's table.", examples=["accounts"])
    id: str | None = Field(None, description="The row's id (update/upsert/delete).",
                           examples=["<guid>"])
    key: dict[str, KeyValue] | None = Field(None, description="Or its alternate key.",
                                            examples=[{"accountnumber": "A-1"}])
    fields: dict[str, Any] = Field(default_factory=dict, description="Column values.",
                                   examples=[{"name": "Contoso"}])


class BatchParams(Params):
    table: str | None = Field(None, description="Rows mode: the table of every row.",
                              examples=["accounts"])
    operation: Literal["create", "update", "upsert"] | None = Field(
        None, description="Rows mode: what to do with every row.", examples=["upsert"])
    rows: list[dict[str, Any]] | None = Field(
        None, description="Rows mode: column values (lookups and labels as in create).",
        examples=[[{"accountnumber": "A-1", "name": "Contoso"}]])
    key_columns: list[str] | None = Field(
        None, description="Rows mode: the alternate-key columns that address each row.",
        examples=[["accountnumber"]])
    strategy: Literal["bulk", "batch"] = Field(
        "bulk", description="bulk: CreateMultiple/UpdateMultiple/UpsertMultiple with $batch "
        "fallback; batch: $batch only.", examples=["bulk"])
    chunk_size: int = Field(1000, ge=1, le=5000, description="Rows per bulk request.",
                            examples=[500])
    parallel: int = Field(4, ge=1, le=16, description="Chunks in flight at once.",
                          examples=[4])
    requests: list[BatchRequest] | None = Field(
        None, description="Mixed mode: requests on any tables.",
        examples=[[{"operation": "create", "table": "tasks", "fields": {"subject": "x"}}]])
    atomic: bool = Field(False, description="Mixed mode: all or nothing (one change set).",
                         examples=[True])

    @model_validator(mode="after")
    def _one_mode(self) -> BatchParams:
        if (self.rows is None) == (self.requests is None):
            raise ValueError("give either rows (with table and operation) or requests")
        if self.rows is not None and (self.table is None or self.operation is None):
            raise ValueError("rows need table and operation")
        return self


@dataclass
class Outcome:
    """Per-row results, filled in as chunks finish."""

    results: list[dict[str, Any] | None]
    requests: int = 0
    fallbacks: int = 0

    def set(self, index: int, ok: bool, record_id: Any = None,
            error: dict[str, Any] | None = None) -> None:
        self.results[index] = {"index": index, "ok": ok, "id": record_id,
                               "error": None if ok else error}

    def output(self) -> dict[str, Any]:
        results = [r for r in self.results if r is not None]
        failed = sum(1 for r in results if not r["ok"])
        return {"results": results, "succeeded": len(results) - failed, "failed": failed,
                "requests": self.requests, "fallbacks": self.fallbacks}


@dataclass(frozen=True)
class Row:
    index: int
    payload: dict[str, Any]
    record_id: str | None  # the primary id, when the row carries it
    key: dict[str, Any] | None  # alternate-key values, when key_columns address it


async def batch(params: BatchParams, ctx: StepContext) -> dict[str, Any]:
    """Write every row or request; per-row results (see the module docstring)."""
    client = client_of(ctx)
    if params.requests is not None:
        return await mixed(client, params.requests, params.atomic)
    assert params.rows is not None and params.table and params.operation
    info = await table_info(client, params.table)
    outcome = Outcome([None] * len(params.rows))
    rows = await _rows(client, info, params, outcome)
    size = min(params.chunk_size, MAX_BATCH_PARTS) if params.strategy == "batch" \
        else params.chunk_size
    chunks = [rows[i:i + size] for i in range(0, len(rows), size)]
    gate = asyncio.Semaphore(params.parallel)

    async def write(chunk: list[Row]) -> None:
        async with gate:
            await write_chunk(client, info, params, chunk, outcome)
    await asyncio.gather(*(write(c) for c in chunks))
    return outcome.output()


async def _rows(client: DataverseClient, info: TableInfo, params: BatchParams,
                outcome: Outcome) -> list[Row]:
    rows = []
    for index, fields in enumerate(params.rows or []):
        try:
            payload = await to_payload(client, info, fields)
            key = {c: fields[c] for c in params.key_columns} if params.key_columns else None
        except FatalError as exc:
            outcome.set(index, False, error={"status": None, "code": "", "message": exc.message})
            continue
        except KeyError as exc:
            outcome.set(index, False, error={"status": None, "code": "",
                                             "message": f"row lacks key column {exc}"})
            continue
        record_id = fields.get(info.primary_id)
        rows.append(Row(index, payload, str(record_id) if record_id else None, key))
    return rows


async def write_chunk(client: DataverseClient, info: TableInfo, params: BatchParams,
                      chunk: list[Row], outcome: Outcome) -> None:
    operation = params.operation or "create"
    by_key_update = operation == "update" and params.key_columns
    if params.strategy == "bulk" and not by_key_update:
        try:
            await bulk_message(client, info, operation, chunk, outcome)
            return
        except FatalError:
            outcome.fallbacks += 1  # one bad row sank the chunk: find it with $batch
    for start in range(0, len(chunk), MAX_BATCH_PARTS):
        part_rows = chunk[start:start + MAX_BATCH_PARTS]
        parts = [_row_part(info, operation, row) for row in part_rows]
        outcome.requests += 1
        answers = await send_batch(client, parts, continue_on_error=True)
        for row, answer in zip(part_rows, answers, strict=True):
            _record(outcome, info, row.index, answer)


async def bulk_message(client: DataverseClient, info: TableInfo, operation: str,
                       chunk: list[Row], outcome: Outcome) -> None:
    targets = [_target(info, operation, row) for row in chunk]
    path = f"{info.entity_set}/{NAMESPACE}{BULK_MESSAGE[operation]}"
    outcome.requests += 1
    response = await client.request("POST", path, json_body={"Targets": targets})
    ids: Sequence[Any] = [row.record_id for row in chunk]
    if operation == "create" and isinstance(response.body, dict):
        ids = response.body.get("Ids") or ids
    for row, record_id in zip(chunk, ids, strict=True):
        outcome.set(row.index, True, record_id)


def _target(info: TableInfo, operation: str, row: Row) -> dict[str, Any]:
    if operation == "update" and row.record_id is None:
        raise FatalError(f"an update row needs its primary id column {info.primary_id!r}")
    target = {**row.payload, "@odata.type": f"{NAMESPACE}{info.logical_name}"}
    if operation == "upsert" and row.key is not None:
        target["@odata.id"] = info.entity_set + bind_key(None, row.key)
    return target


def _row_part(info: TableInfo, operation: str, row: Row) -> BatchPart:
    query = f"?$select={info.primary_id}"
    prefer = {"Prefer": "return=representation"}
    address = row.key if row.key is not None else None
    if operation == "create" or (row.record_id is None and address is None):
        return BatchPart("POST", info.entity_set + query, row.payload, prefer)
    path = info.entity_set + record_key(row.record_id if address is None else None, address)
    conditions = {"If-Match": "*"} if operation == "update" else {}
    return BatchPart("PATCH", path + query, row.payload, {**prefer, **conditions})


def _record(outcome: Outcome, info: TableInfo, index: int, answer: PartResult) -> None:
    body = answer.body if isinstance(answer.body, dict) else {}
    if answer.ok:
        outcome.set(index, True, body.get(info.primary_id) or _entity_id(answer))
    else:
        outcome.set(index, False, error=answer.error())


def _entity_id(answer: PartResult) -> str | None:
    entity = answer.headers.get("odata-entityid", "")
    inner = entity.rsplit("(", 1)[-1].rstrip(")") if "(" in entity else ""
    return inner if len(inner) == 36 and inner.count("-") == 4 else None


async def mixed(client: DataverseClient, requests: list[BatchRequest],
                atomic: bool) -> dict[str, Any]:
    """Mixed requests in one change set (atomic) or with continue-on-error."""
    if atomic and len(requests) > MAX_BATCH_PARTS:
        raise FatalError(f"an atomic batch holds at most {MAX_BATCH_PARTS} requests")
    outcome = Outcome([None] * len(requests))
    infos = [await table_info(client, r.table) for r in requests]
    parts = [await _mixed_part(client, info, r) for info, r in zip(infos, requests, strict=True)]
    for start in range(0, len(parts), MAX_BATCH_PARTS):
        chunk = parts[start:start + MAX_BATCH_PARTS]
        outcome.requests += 1
        answers = await send_batch(client, [chunk] if atomic else chunk,
                                   continue_on_error=not atomic)
        for offset, answer in enumerate(answers):
            _record(outcome, infos[start + offset], start + offset, answer)
    return outcome.output()


async def _mixed_part(client: DataverseClient, info: TableInfo,
                      request: BatchRequest) -> BatchPart:
    if request.operation == "delete":
        return BatchPart("DELETE", info.entity_set + record_key(request.id, request.key))
    payload = await to_payload(client, info, request.fields)
    row = Row(0, payload, request.id, request.key)
    if request.operation != "create" and request.id is None and not request.key:
        raise FatalError(f"a {request.operation} request needs id or key")
    return _row_part(info, request.operation, row)


SPEC = ActionSpec(
    key="dynamics365.batch", params=BatchParams, run=batch, connection_types=("dynamics365",),
    summary="Write many Dataverse rows at once (bulk messages, $batch fallback, per-row "
            "results).")
