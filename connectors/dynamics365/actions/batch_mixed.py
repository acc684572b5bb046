"""``dynamics365.batch`` with ``requests``: mixed requests on any tables in one ``$batch``.

Each request is one part. Without ``atomic`` they run with continue-on-error and each has
its own result. With ``atomic: true`` they form one change set: all or nothing (at most
1,000), and a change set Dataverse rolled back **fails the step**, naming the failing
request, so retries and ``on_error`` apply.

Repeats: a create's primary key is derived from the step identity and the request's index,
so sent again it finds the row its first copy made ("duplicate key": done); a delete that
finds its row gone when the step may repeat is done too. In an atomic change set such a
request is taken as done and the set is sent again without it: if an earlier copy
committed, every request is found done that way or re-applied harmlessly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.base import StepContext
from connectors.dynamics365.actions import repeats
from connectors.dynamics365.actions.batch_params import MAX_BATCH_PARTS, BatchRequest
from connectors.dynamics365.actions.batch_results import (
    Outcome,
    Row,
    created_before,
    new_row,
    record,
    row_part,
)
from connectors.dynamics365.actions.batch_wire import BatchPart, PartResult, send_batch
from connectors.dynamics365.actions.metadata import TableInfo, table_info
from connectors.dynamics365.actions.values import record_key, to_payload
from connectors.dynamics365.client import DataverseClient
from connectors.errors import FatalError

ROLLED_BACK = "rolled_back"


@dataclass(frozen=True)
class Member:
    """One request of the batch: its table, row, operation and ``$batch`` part."""

    info: TableInfo
    row: Row
    operation: str
    part: BatchPart

    async def done_before(self, client: DataverseClient, answer: PartResult,
                          may_repeat: bool) -> bool:
        """The failure is this step's own earlier effect (see the module docstring)."""
        if self.row.derived and self.row.record_id and created_before(answer):
            found = await repeats.existing(client, self.info, [self.row.record_id])
            return self.row.record_id in found
        return self.operation == "delete" and may_repeat and repeats.is_missing(answer.status)


async def mixed(client: DataverseClient, requests: list[BatchRequest], atomic: bool,
                ctx: StepContext, caller: dict[str, str] | None = None) -> dict[str, Any]:
    """Mixed requests in one change set (atomic) or with continue-on-error; ``caller``:
    the impersonation headers of every request."""
    if atomic and len(requests) > MAX_BATCH_PARTS:
        raise FatalError(f"an atomic batch holds at most {MAX_BATCH_PARTS} requests")
    outcome = Outcome([None] * len(requests))
    members = [await _member(client, index, r, ctx) for index, r in enumerate(requests)]
    if atomic:
        await _atomic(client, members, outcome, ctx.may_repeat, caller)
        return outcome.output()
    for start in range(0, len(members), MAX_BATCH_PARTS):
        chunk = members[start:start + MAX_BATCH_PARTS]
        outcome.requests += 1
        reply = await send_batch(client, [m.part for m in chunk], continue_on_error=True,
                                 extra_headers=caller)
        for member, answer in zip(chunk, reply.results, strict=True):
            if not answer.ok and await member.done_before(client, answer,
                                                          ctx.may_repeat or reply.resent):
                outcome.set(member.row.index, True, member.row.record_id)
            else:
                record(outcome, member.info, member.row, answer)
    return outcome.output()


async def _atomic(client: DataverseClient, members: list[Member], outcome: Outcome,
                  may_repeat: bool, caller: dict[str, str] | None) -> None:
    pending = members
    while pending:
        outcome.requests += 1
        reply = await send_batch(client, [[m.part for m in pending]], continue_on_error=False,
                                 extra_headers=caller)
        may_repeat = may_repeat or reply.resent
        failed = next(((m, a) for m, a in zip(pending, reply.results, strict=True)
                       if not a.ok and a.error()["code"] != ROLLED_BACK), None)
        if failed is None:
            for member, answer in zip(pending, reply.results, strict=True):
                record(outcome, member.info, member.row, answer)
            return
        member, answer = failed
        if not await member.done_before(client, answer, may_repeat):
            for other, result in zip(pending, reply.results, strict=True):
                record(outcome, other.info, other.row, result)
            raise _rolled_back(member, answer)
        outcome.set(member.row.index, True, member.row.record_id)  # done by an earlier copy
        pending = [m for m in pending if m is not member]


def _rolled_back(member: Member, answer: PartResult) -> FatalError:
    error = answer.error()
    code = f" {error['code']}" if error["code"] else ""
    return FatalError(
        f"batch: the atomic change set was rolled back, nothing was written: request "
        f"{member.row.index} ({member.operation} {member.info.entity_set}) failed with "
        f"{error['status']}{code}: {error['message']}", status=error["status"],
        code=error["code"] or None)


async def _member(client: DataverseClient, index: int, request: BatchRequest,
                  ctx: StepContext) -> Member:
    info = await table_info(client, request.table)
    if request.operation == "delete":
        part = BatchPart("DELETE", info.entity_set + record_key(request.id, request.key))
        return Member(info, Row(index, {}, request.id, request.key), "delete", part)
    if request.operation != "create" and request.id is None and not request.key:
        raise FatalError(f"a {request.operation} request needs id or key")
    payload = await to_payload(client, info, request.fields)
    if request.operation != "create":
        row = Row(index, payload, request.id, request.key)
    else:
        if request.id is not None:
            payload[info.primary_id] = request.id
        row = new_row(info, "create", index, payload, None, ctx)
    return Member(info, row, request.operation, row_part(info, request.operation, row))
