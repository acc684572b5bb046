"""``create_records``: many creates in one ``POST /data/$batch`` (reference §9).

``atomic: true`` (the default) sends one change set: F&O creates every record or none, and a
failure is a ``FatalError`` naming the failing record's position and F&O's inner message (a
write failure inside a change set is a ``500`` part). ``atomic: false`` sends each create as
its own part with ``Prefer: odata.continue-on-error`` and reports each outcome. The multipart
reader is the shared OData one (:func:`connectors.odata.batch_wire.decode`); the POST goes
through the connection's throttle, token and retries.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from connectors.base import ActionSpec, StepContext
from connectors.dynamics_fo.actions.common import (
    CONNECTION_TYPES,
    EntityParams,
    client_of,
    has_key,
)
from connectors.dynamics_fo.client import FoClient
from connectors.dynamics_fo.company import CompanyScope, key_of, key_path, with_company
from connectors.dynamics_fo.errors import error_detail
from connectors.dynamics_fo.metadata import EntityInfo, entity_info
from connectors.errors import FatalError
from connectors.odata.batch_wire import PartResult, decode
from connectors.odata.client import Outgoing

MAX_RECORDS = 1000


class CreateRecordsParams(EntityParams):
    records: list[dict[str, Any]] = Field(
        min_length=1, max_length=MAX_RECORDS, description="The records' field values.",
        examples=[[{"CustomerAccount": "US-100", "CustomerGroupId": "10"}]])
    atomic: bool = Field(True, description="All or none (one change set); false: each record "
                         "on its own, failures reported per record.", examples=[False])


def _part(client: FoClient, body: dict[str, Any], set_name: str, content_id: int) -> str:
    head = ("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: {content_id}\r\n\r\n")
    request = (f"POST {client.url(set_name)} HTTP/1.1\r\nContent-Type: application/json\r\n"
               "Accept: application/json\r\n\r\n")
    return head + request + json.dumps(body, separators=(",", ":")) + "\r\n"


def encode(client: FoClient, set_name: str, bodies: Sequence[dict[str, Any]],
           atomic: bool) -> tuple[str, bytes]:
    """(Content-Type, body) of the ``$batch`` request."""
    boundary = f"batch_{uuid.uuid4()}"
    chunks: list[str] = []
    if atomic:
        change_set = f"changeset_{uuid.uuid4()}"
        chunks.append(f"--{boundary}\r\nContent-Type: multipart/mixed; "
                      f"boundary={change_set}\r\n\r\n")
        chunks += [f"--{change_set}\r\n" + _part(client, b, set_name, i)
                   for i, b in enumerate(bodies, start=1)]
        chunks.append(f"--{change_set}--\r\n")
    else:
        chunks += [f"--{boundary}\r\n" + _part(client, b, set_name, i)
                   for i, b in enumerate(bodies, start=1)]
    chunks.append(f"--{boundary}--\r\n")
    return f"multipart/mixed; boundary={boundary}", "".join(chunks).encode()


def _outcome(info: EntityInfo, result: PartResult) -> dict[str, Any]:
    if result.ok:
        record = result.body if isinstance(result.body, dict) else {}
        return {"status": result.status, "key": key_of(info, record)}
    kind, message = error_detail(result.body)
    return {"status": result.status, "error": {"type": kind, "message": message}}


async def create_records(params: CreateRecordsParams, ctx: StepContext) -> dict[str, Any]:
    """``{"created": n, "results": [{"status", "key"} | {"status", "error"}, …]}``.

    Sent again (a lost answer, a crash), a record whose fields hold its whole key is
    refused as "already exists": that is this step's earlier copy, so it counts as created
    (atomic: once every record is found by its key)."""
    client = client_of(ctx)
    info = await entity_info(client, params.entity)
    scope = params.scope(client)
    bodies = [with_company(info, r, scope) for r in params.records]
    content_type, data = encode(client, info.set_name, bodies, params.atomic)
    headers = {} if params.atomic else {"Prefer": "odata.continue-on-error"}
    response, resent = await client.send_noting_resends(Outgoing.build(
        "POST", client.url("$batch"), headers, data=data, content_type=content_type))
    answers = decode(response.headers.get("Content-Type", ""), response.raw)
    repeat = Repeat(info, scope, ctx.may_repeat or resent)
    if params.atomic:
        results = await _atomic(client, answers, bodies, repeat)
    else:
        results = _each(answers, bodies, repeat)
    return {"created": sum(1 for r in results if "key" in r), "results": results}


@dataclass(frozen=True)
class Repeat:
    """Whether this step may repeat, and how its records are found again by their keys."""

    info: EntityInfo
    scope: CompanyScope
    may_repeat: bool

    def made_before(self, answer: PartResult | None, body: dict[str, Any]) -> bool:
        """A refusal that is this step's own earlier copy of ``body`` (see above)."""
        if answer is None or not self.may_repeat or not has_key(self.info, body):
            return False
        return "already exists" in error_detail(answer.body)[1]


async def _atomic(client: FoClient, answers: list[PartResult | list[PartResult]],
                  bodies: list[dict[str, Any]], repeat: Repeat) -> list[dict[str, Any]]:
    answer = answers[0] if answers else None
    if isinstance(answer, list) and len(answer) == len(bodies):
        return [_outcome(repeat.info, r) for r in answer]
    failure = answer if isinstance(answer, PartResult) else None
    at = int(failure.headers.get("content-id", "0") or 0) - 1 if failure else -1
    if 0 <= at < len(bodies) and repeat.made_before(failure, bodies[at]) \
            and await _all_exist(client, bodies, repeat):
        return [{"status": 201, "key": key_of(repeat.info, b)} for b in bodies]
    raise _change_set_failed(failure)


async def _all_exist(client: FoClient, bodies: list[dict[str, Any]], repeat: Repeat) -> bool:
    """Every record is there by its key (an earlier copy of the change set committed)."""
    if not all(has_key(repeat.info, b) for b in bodies):
        return False
    gate = asyncio.Semaphore(8)

    async def exists(body: dict[str, Any]) -> bool:
        path, query, _ = key_path(repeat.info, key_of(repeat.info, body), repeat.scope)
        async with gate:
            try:
                await client.get_json(path, query)
            except FatalError as exc:
                if exc.status == 404:
                    return False
                raise
        return True
    return all(await asyncio.gather(*(exists(b) for b in bodies)))


def _each(answers: list[PartResult | list[PartResult]], bodies: list[dict[str, Any]],
          repeat: Repeat) -> list[dict[str, Any]]:
    flat = [a for a in answers if isinstance(a, PartResult)]
    if len(flat) != len(bodies):
        raise FatalError(f"F&O answered {len(flat)} of {len(bodies)} $batch parts")
    return [{"status": 201, "key": key_of(repeat.info, body)}
            if not answer.ok and repeat.made_before(answer, body) else _outcome(repeat.info, answer)
            for answer, body in zip(flat, bodies, strict=True)]


def _change_set_failed(failure: PartResult | None) -> FatalError:
    if failure is None:
        return FatalError("F&O answered the $batch change set without results")
    kind, message = error_detail(failure.body)
    position = failure.headers.get("content-id", "?")
    return FatalError(f"create_records: nothing was created; record {position} failed with "
                      f"{failure.status}" + (f" {kind}" if kind else "") + f": {message}",
                      status=failure.status, code=kind)


SPEC = ActionSpec(key="dynamics_fo.create_records", params=CreateRecordsParams,
                  run=create_records, connection_types=CONNECTION_TYPES,
                  summary="Create many F&O records in one $batch (all or none, or each on "
                          "its own).",
                  idempotency="conditional",
                  idempotency_note="when each record's fields hold its whole key, a batch "
                                   "sent again finds the records its first copy made")
