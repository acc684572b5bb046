"""How a Dataverse write asks and answers, and how a create recognises its own earlier copy.

A write answers with the record (``return_record``, with formatted values) or just its id
(``Prefer: return=representation`` selecting the primary key), and may carry the headers of
:mod:`~connectors.dynamics365.actions.request_options` (impersonation, duplicate detection).
:func:`create_row` is the create every action shares (``create_record``, ``attach_note``):
its primary key comes from the step identity, so a repeat finds its first copy (see
:mod:`~connectors.dynamics365.actions.repeats`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from connectors.base import StepContext
from connectors.dynamics365.actions import repeats
from connectors.dynamics365.actions.metadata import TableInfo
from connectors.dynamics365.actions.request_options import (
    Impersonate,
    caller_headers,
    detection_headers,
    is_duplicate_detected,
    refusal,
)
from connectors.dynamics365.actions.values import ANNOTATIONS_PREFER, from_record, select_option
from connectors.dynamics365.client import DataverseClient, DataverseResponse
from connectors.errors import FatalError
from connectors.odata import escaping as odata
from connectors.odata.records import Explain


@dataclass(frozen=True)
class Write:
    """How a write answers (the record, or just its id) and what it asks besides its data."""

    return_record: bool = False
    select: list[str] | None = None
    impersonate: Impersonate | None = None
    suppress_duplicate_detection: bool = True

    @property
    def caller(self) -> dict[str, str]:
        return caller_headers(self.impersonate)

    def headers(self) -> dict[str, str]:
        return {**self.caller, **detection_headers(self.suppress_duplicate_detection)}


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


def refused(exc: FatalError, what: str, impersonate: Impersonate | None) -> FatalError:
    """``exc`` said in words when it is about the caller or duplicate detection, else as is."""
    return refusal(exc, what, impersonate) or exc


def raise_refused(exc: FatalError, what: str, impersonate: Impersonate | None) -> NoReturn:
    """Raise :func:`refused` of ``exc`` (``exc`` itself when there is nothing to add)."""
    error = refusal(exc, what, impersonate)
    if error is None:
        raise exc
    raise error from exc


async def create_row(client: DataverseClient, info: TableInfo, body: dict[str, Any],
                     ctx: StepContext, write: Write, what: str = "create_record",
                     explain: Explain | None = None) -> DataverseResponse:
    """POST one row of ``info`` and return Dataverse's answer; an error is raised as
    ``explain`` says it (default: :func:`refused`).

    The row's primary key is derived from the step identity unless ``body`` gives one, so
    a create sent again (after a lost answer, a crash, a retry) collides with the row its
    first copy made, either on that key or, with duplicate detection on, on the rules that
    find the first copy a duplicate; that collision is this step's own earlier success,
    and the row is read back instead of a second one being made."""
    query, headers = write_options(info, write.return_record, write.select)
    derived = body.get(info.primary_id) is None
    record_id = ctx.derived_id() if derived else str(body[info.primary_id])
    sent = {**headers, **write.headers()}
    try:
        return await client.request("POST", info.entity_set, params=query,
                                    json_body={**body, info.primary_id: record_id},
                                    headers=sent)
    except FatalError as exc:
        error = (explain or (lambda e: refused(e, what, write.impersonate)))(exc)
        ours = derived or exc.resent or ctx.may_repeat
        if not (ours and made_by_a_copy(exc)):
            if error is exc:
                raise
            raise error from exc
        path = info.entity_set + odata.key_segment(record_id)
        response = await made_before(client, path, query,
                                      {**read_back(headers), **write.caller}, error)
        repeats.recognised(ctx, what, path)
        return response


def made_by_a_copy(exc: FatalError) -> bool:
    return repeats.is_duplicate_key(exc.status, exc.code, exc.message) \
        or is_duplicate_detected(exc)


async def made_before(client: DataverseClient, path: str, query: dict[str, str],
                       headers: dict[str, str], conflict: FatalError) -> DataverseResponse:
    """The row at ``path``, which a duplicate answer says an earlier copy made; when it is
    not there, the duplicate was someone else's and ``conflict`` is raised."""
    try:
        return await client.request("GET", path, params=query, headers=headers)
    except FatalError as exc:
        if exc.status == 404:
            raise conflict from None
        raise


def read_back(write_headers: dict[str, str]) -> dict[str, str]:
    """The headers of a GET that answers as the write would have (annotations kept)."""
    prefer = [p for p in write_headers.get("Prefer", "").split(",")
              if p.startswith("odata.include-annotations")]
    return {"Prefer": prefer[0]} if prefer else {}
