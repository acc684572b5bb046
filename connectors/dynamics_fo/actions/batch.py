"""``create_records``: many creates in one ``POST /data/$batch`` (reference §9).

``atomic: true`` (the default) sends one change set: F&O creates every record or none, and a
failure is a ``FatalError`` naming the failing record's position and F&O's inner message (a
write failure inside a change set is a ``500`` part). ``atomic: false`` sends each create as
its own part with ``Prefer: odata.continue-on-error`` and reports each outcome. The multipart
reader is Dataverse's (:func:`connectors.dynamics365.actions.batch_wire.decode`), which is
plain OData; the POST goes through the connection's throttle, token and retries.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from connectors.base import ActionSpec, StepContext
from connectors.dynamics365.actions.batch_wire import PartResult, decode
from connectors.dynamics_fo.actions.common import CONNECTION_TYPES, EntityParams, client_of
from connectors.dynamics_fo.client import FoClient
from connectors.dynamics_fo.company import key_of, with_company
from connectors.dynamics_fo.errors import error_detail
from connectors.dynamics_fo.metadata import EntityInfo, entity_info
from connectors.errors import FatalError

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
    """``{"created": n, "results": [{"status", "key"} | {"status", "error"}, …]}``."""
    client = client_of(ctx)
    info = await entity_info(client, params.entity)
    scope = params.scope(client)
    bodies = [with_company(info, r, scope) for r in params.records]
    content_type, data = encode(client, info.set_name, bodies, params.atomic)
    headers = {} if params.atomic else {"Prefer": "odata.continue-on-error"}
    response = await client.request("POST", "$batch", data=data, content_type=content_type,
                                    headers=headers)
    answers = decode(response.headers.get("Content-Type", ""), response.raw)
    results = _flatten(answers, len(bodies), params.atomic)
    return {"created": sum(1 for r in results if r.ok),
            "results": [_outcome(info, r) for r in results]}


def _flatten(answers: list[PartResult | list[PartResult]], count: int,
             atomic: bool) -> list[PartResult]:
    if atomic:
        answer = answers[0] if answers else None
        if isinstance(answer, list) and len(answer) == count:
            return answer
        failure = answer if isinstance(answer, PartResult) else None
        raise _change_set_failed(failure)
    flat = [a for a in answers if isinstance(a, PartResult)]
    if len(flat) != count:
        raise FatalError(f"F&O answered {len(flat)} of {count} $batch parts")
    return flat


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
                          "its own).")
