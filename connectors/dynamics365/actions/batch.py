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

**Repeats.** A created row's primary key is derived from the step identity and its index
(unless the row gives one), so a chunk or request sent again — after a lost answer, a crash,
a retry — finds the rows its first copy made: a "duplicate key" answer for such a row is
that row's own earlier success, and a delete that finds its row gone on a repeat is too.
A rolled-back atomic change set fails the step (retries and ``on_error`` apply); see
:mod:`~connectors.dynamics365.actions.batch_mixed`.

**Impersonation** (``impersonate``) goes on every request of the step: the bulk messages,
the ``$batch`` request and each of its parts. A refusal of whom the step acts as (no
``prvActOnBehalfOfAnotherUser``, an unknown user) fails the step with the reason instead of
being tried row by row; a missing privilege of that user is found row by row like any
other row's failure (it may depend on each row's owner).

Output: ``{"results": [{"index", "ok", "id", "error"}], "succeeded", "failed", "requests"
(HTTP requests sent), "fallbacks" (chunks retried as $batch)}``; ``error`` is ``{"status",
"code", "message"}`` or null. ``id`` is null where Dataverse does not say it (an
``UpsertMultiple`` row addressed by an alternate key answers 204 without ids). A row whose
values cannot be converted (e.g. an unknown option label) fails alone, before any request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from connectors.base import ActionSpec, StepContext
from connectors.dynamics365.actions.batch_mixed import mixed
from connectors.dynamics365.actions.batch_params import MAX_BATCH_PARTS, BatchParams
from connectors.dynamics365.actions.batch_results import (
    Outcome,
    Row,
    new_row,
    record_all,
    row_part,
)
from connectors.dynamics365.actions.batch_wire import send_batch
from connectors.dynamics365.actions.metadata import TableInfo, table_info
from connectors.dynamics365.actions.records import client_of
from connectors.dynamics365.actions.request_options import caller_headers, caller_refused
from connectors.dynamics365.actions.values import bind_key, to_payload
from connectors.dynamics365.actions.writes import raise_refused
from connectors.dynamics365.client import DataverseClient
from connectors.errors import FatalError

NAMESPACE = "Microsoft.Dynamics.CRM."
BULK_MESSAGE = {"create": "CreateMultiple", "update": "UpdateMultiple",
                "upsert": "UpsertMultiple"}


async def batch(params: BatchParams, ctx: StepContext) -> dict[str, Any]:
    """Write every row or request; per-row results (see the module docstring)."""
    try:
        return await _batch(params, ctx)
    except FatalError as exc:  # the whole call refused (e.g. may not act as that user)
        raise_refused(exc, "batch", params.impersonate)


async def _batch(params: BatchParams, ctx: StepContext) -> dict[str, Any]:
    client = client_of(ctx)
    caller = caller_headers(params.impersonate)
    if params.requests is not None:
        return await mixed(client, params.requests, params.atomic, ctx, caller)
    assert params.rows is not None and params.table and params.operation
    info = await table_info(client, params.table)
    outcome = Outcome([None] * len(params.rows))
    rows = await _rows(client, info, params, outcome, ctx)
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
                outcome: Outcome, ctx: StepContext) -> list[Row]:
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
        rows.append(new_row(info, params.operation or "create", index, payload, key, ctx))
    return rows


async def write_chunk(client: DataverseClient, info: TableInfo, params: BatchParams,
                      chunk: list[Row], outcome: Outcome) -> None:
    operation = params.operation or "create"
    by_key_update = operation == "update" and params.key_columns
    caller = caller_headers(params.impersonate)
    if params.strategy == "bulk" and not by_key_update:
        try:
            await bulk_message(client, info, operation, chunk, outcome, caller)
            return
        except FatalError as exc:
            if caller_refused(exc, params.impersonate):
                raise  # who the step acts as is refused: no row would fare better alone
            outcome.fallbacks += 1  # one bad row sank the chunk: find it with $batch
    for start in range(0, len(chunk), MAX_BATCH_PARTS):
        part_rows = chunk[start:start + MAX_BATCH_PARTS]
        parts = [row_part(info, operation, row) for row in part_rows]
        outcome.requests += 1
        reply = await send_batch(client, parts, continue_on_error=True, extra_headers=caller)
        await record_all(client, info, outcome, list(zip(part_rows, reply.results,
                                                         strict=True)))


async def bulk_message(client: DataverseClient, info: TableInfo, operation: str,
                       chunk: list[Row], outcome: Outcome,
                       headers: dict[str, str] | None = None) -> None:
    targets = [_target(info, operation, row) for row in chunk]
    path = f"{info.entity_set}/{NAMESPACE}{BULK_MESSAGE[operation]}"
    outcome.requests += 1
    response = await client.request("POST", path, json_body={"Targets": targets},
                                    headers=headers)
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


SPEC = ActionSpec(
    key="dynamics365.batch", params=BatchParams, run=batch, connection_types=("dynamics365",),
    summary="Write many Dataverse rows at once (bulk messages, $batch fallback, per-row "
            "results).",
    idempotency="keyed",
    idempotency_note="created rows get primary keys derived from the step identity and their "
                     "index, so a batch sent again finds the rows its first copy made; "
                     "updates, upserts and deletes repeat harmlessly")
