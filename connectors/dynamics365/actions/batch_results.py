"""What both modes of ``dynamics365.batch`` share: the rows they write, the ``$batch`` part
of a row, and the per-row results (a repeat's "duplicate key" for a row whose derived id is
found in the table counts as that row created)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.base import StepContext
from connectors.dynamics365.actions import repeats
from connectors.dynamics365.actions.batch_wire import BatchPart, PartResult
from connectors.dynamics365.actions.metadata import TableInfo
from connectors.dynamics365.actions.values import record_key
from connectors.dynamics365.client import DataverseClient


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
    record_id: str | None  # the primary id, when the row carries it (or it was derived)
    key: dict[str, Any] | None  # alternate-key values, when key_columns address it
    derived: bool = False  # record_id was derived from the step identity (a create)


def new_row(info: TableInfo, operation: str, index: int, payload: dict[str, Any],
            key: dict[str, Any] | None, ctx: StepContext) -> Row:
    """A row; a create without a primary id gets one derived from the step and ``index``."""
    record_id = payload.get(info.primary_id)
    if operation != "create" or record_id:
        return Row(index, payload, str(record_id) if record_id else None, key)
    record_id = ctx.derived_id(index)
    return Row(index, {**payload, info.primary_id: record_id}, record_id, key, derived=True)


def row_part(info: TableInfo, operation: str, row: Row) -> BatchPart:
    """The ``$batch`` request that writes ``row``."""
    query = f"?$select={info.primary_id}"
    prefer = {"Prefer": "return=representation"}
    address = row.key if row.key is not None else None
    if operation == "create" or (row.record_id is None and address is None):
        return BatchPart("POST", info.entity_set + query, row.payload, prefer)
    path = info.entity_set + record_key(row.record_id if address is None else None, address)
    conditions = {"If-Match": "*"} if operation == "update" else {}
    return BatchPart("PATCH", path + query, row.payload, {**prefer, **conditions})


def record(outcome: Outcome, info: TableInfo, row: Row, answer: PartResult) -> None:
    """``row``'s result from its answer."""
    body = answer.body if isinstance(answer.body, dict) else {}
    if answer.ok:
        outcome.set(row.index, True, body.get(info.primary_id) or entity_id(answer))
    else:
        outcome.set(row.index, False, error=answer.error())


async def record_all(client: DataverseClient, info: TableInfo, outcome: Outcome,
                     answered: list[tuple[Row, PartResult]]) -> None:
    """Every row's result; a row whose id was derived and whose create was refused as a
    duplicate counts as created when that id is found in the table: an earlier copy of
    this step made it (see :mod:`~connectors.dynamics365.actions.repeats`)."""
    doubtful = [row.record_id for row, answer in answered
                if row.derived and row.record_id and created_before(answer)]
    ours = await repeats.existing(client, info, doubtful) if doubtful else set()
    for row, answer in answered:
        if not answer.ok and row.record_id in ours:
            outcome.set(row.index, True, row.record_id)
        else:
            record(outcome, info, row, answer)


def created_before(answer: PartResult) -> bool:
    """The answer of a create refused because a key is taken."""
    if answer.ok:
        return False
    error = answer.error()
    return repeats.is_duplicate_key(error["status"], error["code"], error["message"])


def entity_id(answer: PartResult) -> str | None:
    entity = answer.headers.get("odata-entityid", "")
    inner = entity.rsplit("(", 1)[-1].rstrip(")") if "(" in entity else ""
    return inner if len(inner) == 36 and inner.count("-") == 4 else None
