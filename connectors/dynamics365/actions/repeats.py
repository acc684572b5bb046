"""How Dataverse answers a write that already took effect, so a repeated step can tell its
own earlier effect from a real conflict.

A create carries a primary key derived from the step identity
(:meth:`connectors.base.StepContext.derived_id`). Sent again, it collides with the row the
first copy made: Dataverse refuses it as a duplicate — ``DuplicateRecord`` (``0x80040237``,
"Cannot insert duplicate key") for the primary key, ``DuplicateRecordEntityKey``
(``0x80060892``) when an alternate key in the row collides first; 412 in Microsoft's list
of codes, 409 in some reports (reference §6). Either way the step then looks its row up by
the derived key: found, the collision was its own earlier copy; not found, it is a real
conflict and stays an error. A delete sent again finds nothing (404).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from connectors.base import StepContext
from connectors.dynamics365.actions.metadata import TableInfo
from connectors.dynamics365.client import DataverseClient
from connectors.odata import escaping as odata

DUPLICATE_CODES = frozenset({"0x80040237", "0x80060892"})
_CONFLICT_STATUSES = (409, 412)
_IDS_PER_QUERY = 50


def is_duplicate_key(status: int | None, code: str | None, message: str) -> bool:
    """The answer of a create whose primary or alternate key is taken."""
    if status not in _CONFLICT_STATUSES:
        return False
    return (code or "").lower() in DUPLICATE_CODES or "duplicate" in message.lower()


def is_missing(status: int | None) -> bool:
    """The answer of a delete (or disassociate) whose row is already gone."""
    return status == 404


async def existing(client: DataverseClient, info: TableInfo, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` are rows of the table (a query per fifty ids, in parallel)."""
    wanted = sorted({odata.guid(i) for i in ids})
    chunks = [wanted[i:i + _IDS_PER_QUERY] for i in range(0, len(wanted), _IDS_PER_QUERY)]

    async def found(chunk: list[str]) -> set[str]:
        where = " or ".join(f"{info.primary_id} eq {i}" for i in chunk)
        body = await client.get_json(info.entity_set, {"$select": info.primary_id,
                                                        "$filter": where})
        return {str(row[info.primary_id]) for row in body.get("value", [])}

    results = await asyncio.gather(*(found(c) for c in chunks))
    return set().union(*results) if results else set()


def recognised(ctx: StepContext, action: str, what: str) -> None:
    """Log that a repeat found this step's own earlier effect (no second one was made)."""
    if ctx.log is not None:
        ctx.log.info("step.repeat_recognised", action=action, target=what)
