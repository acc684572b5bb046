"""``dynamics365.changes`` and ``dynamics365.deleted_record``: change tracking (reference §4).

The first read sends ``Prefer: odata.track-changes`` (``since: beginning`` delivers every
current row; ``since: now`` pages through them without delivering, only to get the delta
link); later reads follow the ``@odata.deltaLink``. Versions, not clocks: no ties, no skew,
deletions included. The cursor is the link to read next, ``{"v": 1, "since": …, "link": …}``:
mid-read it is the page's ``@odata.nextLink`` (the service keeps the read's version window in
it, so a resumed read neither repeats nor skips), after the last page the delta link. Events:
rows as ``upsert`` keyed ``<id>:<version>``; ``$deletedEntity`` entries as ``deleted`` keyed
``<id>:deleted``. The table must have change tracking enabled; ``$filter`` is not supported
by the service on tracked reads, so these triggers have no ``filter``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal

from pydantic import Field

from connectors.base import Event, Params, PollPage, StepContext, TriggerSpec
from connectors.dynamics365.client import DataverseClient
from connectors.dynamics365.triggers import row_version
from connectors.errors import RecipeError
from connectors.odata.params import Columns, EntitySet

TRACK_CHANGES = {"Prefer": "odata.track-changes"}


class ChangesParams(Params):
    table: EntitySet = Field(description="Entity set name of a change-tracked table.",
                             examples=["accounts"])
    select: Columns = Field(None, description="Columns to return.",
                            examples=[["name", "telephone1"]])
    since: Literal["now", "beginning"] = Field(
        "now", description="now: only later changes; beginning: every current row first.")
    page_size: int = Field(1000, ge=1, le=5000, description="Entries per Web API page.")
    primary_key: str | None = Field(None, description="Primary id column (else from metadata).",
                                    examples=["accountid"])


def is_deletion(entry: Mapping[str, Any]) -> bool:
    return entry.get("reason") == "deleted" or str(
        entry.get("@odata.context", "")).endswith("$deletedEntity")


def change_event(entry: dict[str, Any], key: str) -> Event:
    if is_deletion(entry):
        return Event(f"{entry['id']}:deleted", entry, "deleted")
    return Event(f"{entry[key]}:{row_version(entry)}", entry, "upsert")


async def poll_changes(params: ChangesParams, cursor: Mapping[str, Any] | None,
                       ctx: StepContext, *, kinds: frozenset[str]) -> AsyncIterator[PollPage]:
    """Pages of change events after ``cursor``; only events whose kind is in ``kinds``."""
    client = DataverseClient.of(ctx, "trigger")
    key = params.primary_key or await client.primary_key(params.table)
    since = str(cursor["since"]) if cursor else params.since
    deliver = cursor is not None or params.since == "beginning"
    if cursor is not None:
        pages = client.paginate(str(cursor["link"]), page_size=params.page_size)
    else:
        options = {"$select": ",".join(dict.fromkeys([*params.select, key]))} \
            if params.select else None
        pages = client.paginate(params.table, options, params.page_size, TRACK_CHANGES)
    async for page in pages:
        link = page.next_link or page.delta_link
        if link is None:
            raise RecipeError(f"{params.table} answered without a delta link: is change "
                              "tracking enabled on the table?")
        events = [change_event(e, key) for e in page.rows] if deliver else []
        events = [e for e in events if e.kind in kinds]
        yield PollPage(events, {"v": 1, "since": since, "link": link})


async def poll_all_changes(params: ChangesParams, cursor: Mapping[str, Any] | None,
                           ctx: StepContext) -> AsyncIterator[PollPage]:
    async for page in poll_changes(params, cursor, ctx, kinds=frozenset({"upsert", "deleted"})):
        yield page


async def poll_deleted(params: ChangesParams, cursor: Mapping[str, Any] | None,
                       ctx: StepContext) -> AsyncIterator[PollPage]:
    async for page in poll_changes(params, cursor, ctx, kinds=frozenset({"deleted"})):
        yield page


CHANGES_SPEC = TriggerSpec(
    key="dynamics365.changes", params=ChangesParams, poll=poll_all_changes,
    summary="Created, updated and deleted rows of a change-tracked table, in one stream.",
    connection_types=("dynamics365",))

DELETED_RECORD_SPEC = TriggerSpec(
    key="dynamics365.deleted_record", params=ChangesParams, poll=poll_deleted,
    summary="Each deleted row of a change-tracked table, exactly once.",
    connection_types=("dynamics365",))
