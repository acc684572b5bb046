"""``dynamics365.new_record`` (on ``createdon``) and ``dynamics365.new_or_updated_record`` (on
``modifiedon``): polling triggers over a timestamp column.

**Contract: no record version is ever missed or delivered twice** — provided it becomes
visible within ``lookback + safety_lag`` of its timestamp — whatever the data: many rows
sharing one second across a page boundary, rows committed late with an older timestamp, a row
updated again while the poll pages, clock skew between daemon and service.

How (see :mod:`connectors.odata.cursor` for the state):

1. Each poll asks, inclusively, ``<column> ge max(watermark − lookback, floor)`` (ANDed with
   the recipe's ``filter``), ordered by ``<column> asc, <primary key> asc``, with no upper
   bound, streamed page by page (keyset paging on the service side, so rows sharing a second
   neither shift nor repeat across pages).
2. A row is delivered only if its **event identity** (``<id>:<versionnumber>`` for
   ``modifiedon``; ``<id>`` for ``createdon``) is not in the cursor's ``seen`` set, which keeps
   every identity delivered within the lookback window. Re-reading the window finds late
   commits and drops what was already delivered. A row updated again while the poll pages
   moves past the keyset boundary and is read as its new version, in this poll or the next.
3. The watermark moves forward only: after each page to that page's last timestamp, after
   the last page to the **signpost**, the service's ``Date`` at the poll's start minus
   ``safety_lag``. Time comes from the service only; the daemon's clock is never read, so
   skew between them cannot lose rows; a row stamped in the future is delivered but cannot
   drag the watermark past the service's clock.
4. Every page is one :class:`~connectors.base.PollPage` whose cursor is valid once that
   page's events are stored; the engine stores both in one transaction, so a crash mid-poll
   neither loses nor repeats.

``since`` (``now`` by default, ``beginning``, or an ISO date) only shapes a new cursor: a
cursor stores the ``since`` it started from, and a later change of the param never rewinds it.
(Batches — ``batch_size`` on the trigger — are the engine's: it groups these events.)

**Backfill** (``recipe-runner recipes backfill``) reads the rows whose column is in
``[since, until)`` with the same query shape and event identities, without a cursor: every
version it sees is delivered and the engine's dedupe drops those already stored.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal

from pydantic import Field

from connectors.base import Event, Params, PollPage, StepContext, TriggerSpec
from connectors.dynamics365.actions.values import ANNOTATIONS_PREFER, from_record
from connectors.dynamics365.client import DataverseClient
from connectors.dynamics365.feeds import TimestampFeed
from connectors.errors import FatalError
from connectors.odata import escaping as odata
from connectors.odata.cursor import CursorState, format_second, signpost
from connectors.odata.params import Columns, EntitySet, Lookback, SafetyLag, Since
from connectors.odata.polling import open_cursor

CONNECTION_TYPES = ("dynamics365",)
_ETAG_VERSION = re.compile(r'"(\d+)"')


class RecordTriggerParams(Params):
    table: EntitySet = Field(description="Entity set name of the table.", examples=["contacts"])
    select: Columns = Field(
        None, description="Columns to return (the key and timestamps are always added).",
        examples=[["fullname", "emailaddress1"]])
    filter: str | None = Field(
        None, description="Extra OData $filter, ANDed with the trigger's own (sent as "
        "written: trigger params are not templates).", examples=["statecode eq 0"],
        json_schema_extra=odata.FILTER_TEMPLATE)
    since: Since = "now"
    page_size: int = Field(1000, ge=1, le=5000, description="Rows per Web API page.")
    lookback: Lookback = 300.0
    safety_lag: SafetyLag = 2.0
    primary_key: str | None = Field(
        None, description="Primary id column; looked up in metadata when omitted.",
        examples=["contactid"])
    mode: Literal["poll", "push", "hybrid"] = Field(
        "poll", description="poll: query the table every poll_interval; push: Dataverse posts "
                            "each change to this daemon (a webhook it registers: real time, "
                            "but changes made while it cannot be reached are lost); hybrid: "
                            "both — push for speed, a slow poll (set poll_interval, e.g. 10m) "
                            "so nothing is ever missed. Needs RECIPE_RUNNER_PUBLIC_URL.",
        examples=["hybrid"])
    include_labels: bool = Field(
        False, description="Beside each raw value that has a display form, its label as "
                           "actions return it: <column>@label (choice labels, lookup names, "
                           "formatted money and dates) and, for lookups, <column>@table.",
        examples=[True])
    ignore_own_changes: bool = Field(
        False, description="Skip rows this connection's own user (WhoAmI) created "
                           "(new_record) or changed last (new_or_updated_record), itself or "
                           "impersonating another user: a recipe that writes to the table it "
                           "watches does not trigger itself.",
        examples=[True])


class UpdatedRecordParams(RecordTriggerParams):
    changed_columns: Columns = Field(
        None, description="Fire only when one of these columns changed since the version "
                          "this recipe saw last (like Power Automate's 'select columns'); a "
                          "record seen for the first time always fires.",
        examples=[["statuscode", "estimatedvalue"]])


def change_digest(params: RecordTriggerParams) -> Callable[[Event], tuple[str, str]] | None:
    """(record id, digest of the watched columns' values) of an event; None: no
    ``changed_columns``, every change fires."""
    watched = getattr(params, "changed_columns", None)
    if not watched:
        return None

    def digest(event: Event) -> tuple[str, str]:
        values = [event.record.get(c, event.record.get(f"_{c}_value")) for c in watched]
        text = json.dumps(values, sort_keys=True, default=str)
        return event.key.split(":", 1)[0], hashlib.sha1(text.encode()).hexdigest()
    return digest


@dataclass(frozen=True)
class TimestampTrigger:
    """What differs between the two timestamp triggers."""

    column: str
    identity: Callable[[dict[str, Any], str], str]  # (row, primary key) -> event identity
    kind: Callable[[dict[str, Any]], str]
    author: str  # the lookup naming who made the change: _createdby_value / _modifiedby_value
    delegate: str  # who made it for them when impersonating: _createdonbehalfby_value / …

    @property
    def authors(self) -> tuple[str, str]:
        """The lookups that name this connection's user when it made the change: itself, or
        on behalf of another user (impersonation)."""
        return self.author, self.delegate

    def made_by(self, row: Mapping[str, Any], user: str) -> bool:
        """Whether ``user`` made the row's change, itself or impersonating another user."""
        return any(str(row.get(column) or "").lower() == user for column in self.authors)


def row_version(row: Mapping[str, Any]) -> str:
    """The row version: ``versionnumber``, else the number in ``@odata.etag``."""
    if row.get("versionnumber") is not None:
        return str(row["versionnumber"])
    match = _ETAG_VERSION.search(str(row.get("@odata.etag", "")))
    if match is None:
        raise FatalError("a Dataverse row has neither versionnumber nor @odata.etag")
    return match.group(1)


def version_identity(row: dict[str, Any], key: str) -> str:
    return f"{row[key]}:{row_version(row)}"


def id_identity(row: dict[str, Any], key: str) -> str:
    return str(row[key])


def created_or_updated(row: dict[str, Any]) -> str:
    created = row.get("createdon")
    return "created" if created is not None and created[:19] == row["modifiedon"][:19] \
        else "updated"


NEW = TimestampTrigger("createdon", id_identity, lambda row: "created", "_createdby_value",
                       "_createdonbehalfby_value")
NEW_OR_UPDATED = TimestampTrigger("modifiedon", version_identity, created_or_updated,
                                  "_modifiedby_value", "_modifiedonbehalfby_value")


def query_options(params: RecordTriggerParams, trigger: TimestampTrigger, key: str,
                  lower: str | None) -> dict[str, str]:
    """The OData options of one poll: inclusive lower bound, total order, no upper bound."""
    column = trigger.column
    options: dict[str, str] = {"$orderby": f"{column} asc,{key} asc"}
    if params.select is not None:
        author = list(trigger.authors) if params.ignore_own_changes else []
        watched = getattr(params, "changed_columns", None) or []
        columns = dict.fromkeys([*params.select, key, column, "createdon", "modifiedon",
                                 *author, *watched])
        options["$select"] = ",".join(columns)
    clauses = [f"({params.filter})"] if params.filter else []
    if lower is not None:
        clauses.insert(0, f"{column} ge {odata.datetime_literal(lower + 'Z')}")
    if clauses:
        options["$filter"] = " and ".join(clauses)
    return options


async def poll_timestamp(trigger: TimestampTrigger, params: RecordTriggerParams,
                         cursor: Mapping[str, Any] | None,
                         ctx: StepContext) -> AsyncIterator[PollPage]:
    """Pages of events since ``cursor`` (see the module docstring for the contract)."""
    client = DataverseClient.of(ctx, "trigger")
    key = params.primary_key or await client.primary_key(params.table)
    state, starts_now = await open_cursor(
        cursor, params.since, client.service,
        lambda: client.request("GET", params.table, params={"$select": key, "$top": 1}))
    if starts_now:
        yield PollPage([], state.to_dict())
        return  # the next poll reads from this instant on
    options = query_options(params, trigger, key, state.lower_bound(params.lookback))
    own = await client.user_id() if params.ignore_own_changes else None
    post: str | None = None
    async for page in client.paginate(params.table, options, params.page_size,
                                      headers=_labels_header(params)):
        if post is None and page.server_time is not None:
            post = signpost(page.server_time, params.safety_lag)
        events, last = _page_events(trigger, state, page.rows, key, own)
        if params.include_labels:
            events = [labelled(event) for event in events]
        state.end_page(last, post, page.next_link is None, params.lookback)
        yield PollPage(events, state.to_dict())


def _page_events(trigger: TimestampTrigger, state: CursorState, rows: list[dict[str, Any]],
                 key: str, own: str | None = None) -> tuple[list[Event], str | None]:
    """The page's new events; with ``own`` (this connection's user), not the rows that user
    made last (they are still remembered as seen)."""
    events: list[Event] = []
    last: str | None = None
    column, identity_of, kind_of = trigger.column, trigger.identity, trigger.kind
    accept, append = state.accept, events.append  # the hot loop: one pass per row
    for row in rows:
        last = row[column][:19]  # second_of, inlined
        identity = identity_of(row, key)
        if accept(last, identity) and (own is None or not trigger.made_by(row, own)):
            append(Event(identity, row, kind_of(row)))
    return events, last





async def backfill_timestamp(trigger: TimestampTrigger, params: RecordTriggerParams,
                             since: datetime, until: datetime | None,
                             ctx: StepContext) -> AsyncIterator[PollPage]:
    """Pages of the events of rows stamped in ``[since, until)``; the cursor is untouched."""
    client = DataverseClient.of(ctx, "trigger")
    key = params.primary_key or await client.primary_key(params.table)
    options = query_options(params, trigger, key, format_second(since))
    if until is not None:
        upper = odata.datetime_literal(format_second(until) + "Z")
        options["$filter"] += f" and {trigger.column} lt {upper}"
    own = await client.user_id() if params.ignore_own_changes else None
    async for page in client.paginate(params.table, options, params.page_size,
                                      headers=_labels_header(params)):
        events = [Event(trigger.identity(row, key), row, trigger.kind(row)) for row in page.rows
                  if own is None or not trigger.made_by(row, own)]
        yield PollPage([labelled(e) for e in events] if params.include_labels else events, {})


def _labels_header(params: RecordTriggerParams) -> dict[str, str] | None:
    return {"Prefer": ANNOTATIONS_PREFER} if params.include_labels else None


def labelled(event: Event) -> Event:
    """The event with its record in the actions' output convention (``<column>@label``)."""
    return Event(event.key, from_record(event.record), event.kind)


NEW_RECORD_SPEC = TriggerSpec(
    key="dynamics365.new_record", params=RecordTriggerParams, poll=partial(poll_timestamp, NEW),
    summary="Each new row of a Dataverse table (by createdon), exactly once.",
    connection_types=CONNECTION_TYPES, backfill=partial(backfill_timestamp, NEW),
    feed=TimestampFeed(NEW))

NEW_OR_UPDATED_RECORD_SPEC = TriggerSpec(
    key="dynamics365.new_or_updated_record", params=UpdatedRecordParams,
    poll=partial(poll_timestamp, NEW_OR_UPDATED),
    summary="Each new or changed row version of a Dataverse table (by modifiedon), exactly once.",
    connection_types=CONNECTION_TYPES, backfill=partial(backfill_timestamp, NEW_OR_UPDATED),
    feed=TimestampFeed(NEW_OR_UPDATED), change_digest=change_digest)
