"""``dynamics_fo.new_or_updated_record`` (on a change-date field, ``ModifiedDateTime`` by
default) and ``dynamics_fo.new_record`` (on a created-date field, ``CreatedDateTime`` by
default): polling triggers over an F&O entity's date field.

**Contract: the same as the Dataverse timestamp triggers** (:mod:`connectors.dynamics365.
triggers`): no record version is missed or delivered twice, provided it becomes visible within
``lookback + safety_lag`` of its date, whatever the data (many rows sharing one second across
pages, late commits with an older date, rows changed while the poll pages, clock skew).

What differs for F&O:

* **Keyset paging done by the client.** F&O pages by ``$skip`` (reference §9), so a row that
  changes or disappears while a poll pages would shift the offsets and hide another row. Each
  page is therefore its own query, ordered by ``<date> asc`` then every key field (``dataAreaId``
  first), with ``$top=page_size`` (at most F&O's 10,000, so the service never pages itself) and
  a filter for "after the last row read" in that order.
* **Event identity is the entity key and the date** (F&O has no row version number):
  ``<key values>@<date>``. Two changes of one row within the same second are one event.
* **Company**: ``data_area`` / ``cross_company`` as described in
  :mod:`connectors.dynamics_fo.company`.
* **Unknown date field**: the first poll raises ``RecipeError`` naming the entity and the date
  fields it has (from ``$metadata``); ``VendorsV2``, for example, has no created-date field.

The cursor is :mod:`connectors.odata.cursor`'s: an inclusive lower bound
``max(watermark − lookback, floor)``, identities seen within the lookback window, and a
watermark that moves forward only and never past the signpost (the service's ``Date`` at the
poll's start minus ``safety_lag``).

**Backfill** reads the records dated in ``[since, until)`` with the same keyset paging and
event identities, without a cursor; the engine's dedupe drops events already stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from pydantic import Field

from connectors.base import Event, Params, PollPage, StepContext, TriggerSpec
from connectors.dynamics_fo.client import FoClient, FoResponse
from connectors.dynamics_fo.company import CompanyScope, and_filters, read_options, scope_of
from connectors.dynamics_fo.metadata import EntityInfo, entity_info
from connectors.odata import escaping as odata
from connectors.odata.cursor import CursorState, format_second, signpost
from connectors.odata.paging import page_rows
from connectors.odata.params import Columns, EntitySet, Lookback, SafetyLag, Since
from connectors.odata.polling import open_cursor

CONNECTION_TYPES = ("dynamics_fo",)
MAX_PAGE_SIZE = 10_000  # F&O's server-driven page size (reference §9)


class FoTriggerParams(Params):
    entity: EntitySet = Field(
        description="The data entity's public collection name (entity set).",
        examples=["CustomersV3"])
    select: Columns = Field(
        None, description="Fields to return (the key and the date field are always added).",
        examples=[["CustomerAccount", "OrganizationName"]])
    filter: str | None = Field(None, description="Extra OData $filter, ANDed with the "
                               "trigger's own (sent as written: trigger params are not "
                               "templates).", examples=["CustomerGroupId eq '10'"],
                               json_schema_extra=odata.FO_FILTER_TEMPLATE)
    since: Since = "now"
    data_area: str | None = Field(
        None, description="Company (dataAreaId) to read; default: the connection's.",
        examples=["usmf"])
    cross_company: bool | None = Field(
        None, description="Read every company; default: the connection's setting.",
        examples=[True])
    page_size: int = Field(1000, ge=1, le=MAX_PAGE_SIZE, description="Rows per request.")
    lookback: Lookback = 300.0
    safety_lag: SafetyLag = 2.0


class NewOrUpdatedRecordParams(FoTriggerParams):
    date_field: str = Field("ModifiedDateTime", description="The entity's change-date field.",
                            examples=["ModifiedDateTime", "modifiedDateTime1"])


class NewRecordParams(FoTriggerParams):
    date_field: str = Field("CreatedDateTime", description="The entity's created-date field.",
                            examples=["CreatedDateTime", "CreatedDateTime1"])


AnyParams = NewOrUpdatedRecordParams | NewRecordParams


@dataclass(frozen=True)
class DateTrigger:
    """What differs between the two triggers: the field's role and the event kind."""

    purpose: str  # "change-date" | "created-date", for error messages
    kind: Callable[[dict[str, Any], str, str | None], str]  # (row, date field, created field)


def created_or_updated(row: dict[str, Any], date_field: str, created: str | None) -> str:
    if created is None or created == date_field:
        return "upsert"  # the entity has no created-date field to tell
    stamp = row.get(created)
    return "created" if stamp is not None and str(stamp)[:19] == str(row[date_field])[:19] \
        else "updated"


NEW = DateTrigger("created-date", lambda row, field, created: "created")
NEW_OR_UPDATED = DateTrigger("change-date", created_or_updated)


def identity(info: EntityInfo, row: Mapping[str, Any], date_field: str) -> str:
    """``usmf|US-001@2024-05-01T10:41:03``: the key and the date's second."""
    key = "|".join(str(row.get(k)) for k in info.key)
    return f"{key}@{str(row[date_field])[:19]}"


def created_field(info: EntityInfo) -> str | None:
    """The entity's created-date field, by name (F&O has no annotation for it)."""
    return next((f for f in info.date_fields if f.lower().startswith("created")), None)


def after_row(order: list[str], row: Mapping[str, Any], date_field: str) -> str:
    """``$filter`` for rows strictly after ``row`` in the order (date, key fields…)."""
    field, rest = order[0], order[1:]
    value = row[field]
    text = odata.datetime_literal(value) if field == date_field else odata.literal(value)
    beyond = f"{field} gt {text}"
    if not rest:
        return beyond
    # ge+le, not eq: F&O reads '*' in an eq string literal as a wildcard (reference §9).
    same = f"{field} eq {text}" if field == date_field else f"{field} ge {text} and " \
        f"{field} le {text}"
    return f"{beyond} or ({same} and ({after_row(rest, row, date_field)}))"


@dataclass
class PageQuery:
    """The query options of every page of one poll."""

    info: EntityInfo
    params: AnyParams
    scope: CompanyScope
    lower: str | None  # inclusive lower bound (second), None: everything
    upper: str | None = None  # exclusive upper bound (second), for a backfill

    @property
    def order(self) -> list[str]:
        return [self.params.date_field, *self.info.key]

    def options(self, after: Mapping[str, Any] | None) -> dict[str, str | int]:
        date_field = self.params.date_field
        company_params, company_filter = read_options(self.scope, self.info)
        bound = None if self.lower is None else \
            f"{date_field} ge {odata.datetime_literal(self.lower + 'Z')}"
        if self.upper is not None:
            below = f"{date_field} lt {odata.datetime_literal(self.upper + 'Z')}"
            bound = below if bound is None else f"{bound} and {below}"
        keyset = None if after is None else after_row(self.order, after, date_field)
        options: dict[str, str | int] = {
            **company_params, "$orderby": ",".join(f"{f} asc" for f in self.order),
            "$top": self.params.page_size}
        where = and_filters(bound, company_filter, self.params.filter, keyset)
        if where:
            options["$filter"] = where
        if self.params.select is not None:
            extra = [f for f in (created_field(self.info),) if f]
            options["$select"] = ",".join(dict.fromkeys(
                [*self.params.select, *self.order, *extra]))
        return options


async def _read_one(client: FoClient, query: PageQuery) -> FoResponse:
    """The first record in the poll's order: its answer's ``Date`` is the service's clock."""
    options = {**query.options(None), "$top": 1, "$select": ",".join(query.info.key)}
    return await client.request("GET", query.info.set_name, params=options)


async def poll_dates(trigger: DateTrigger, params: AnyParams, cursor: Mapping[str, Any] | None,
                     ctx: StepContext) -> AsyncIterator[PollPage]:
    """Pages of events since ``cursor`` (see the module docstring for the contract)."""
    client = FoClient.of(ctx, "trigger")
    info = await entity_info(client, params.entity)
    info.require_date_field(params.date_field, trigger.purpose)
    query = PageQuery(info, params, scope_of(client, params.data_area, params.cross_company),
                      None)
    state, starts_now = await open_cursor(cursor, params.since, client.service,
                                          lambda: _read_one(client, query))
    if starts_now:
        yield PollPage([], state.to_dict())
        return  # the next poll reads from this instant on
    query.lower = state.lower_bound(params.lookback)
    post: str | None = None
    after: dict[str, Any] | None = None
    while True:
        response = await client.request("GET", info.set_name, params=query.options(after))
        rows = page_rows(client.service, response.body)
        if post is None and response.server_time is not None:
            post = signpost(response.server_time, params.safety_lag)
        final = len(rows) < params.page_size
        events, last = _page_events(trigger, info, state, rows, params.date_field)
        state.end_page(last, post, final, params.lookback)
        yield PollPage(events, state.to_dict())
        if final:
            return
        after = rows[-1]


async def backfill_dates(trigger: DateTrigger, params: AnyParams, since: datetime,
                         until: datetime | None, ctx: StepContext) -> AsyncIterator[PollPage]:
    """Pages of the events of records dated in ``[since, until)``; the cursor is untouched."""
    client = FoClient.of(ctx, "trigger")
    info = await entity_info(client, params.entity)
    info.require_date_field(params.date_field, trigger.purpose)
    query = PageQuery(info, params, scope_of(client, params.data_area, params.cross_company),
                      format_second(since), None if until is None else format_second(until))
    created = created_field(info)
    after: dict[str, Any] | None = None
    while True:
        response = await client.request("GET", info.set_name, params=query.options(after))
        rows = page_rows(client.service, response.body)
        events = [Event(identity(info, row, params.date_field), row,
                        trigger.kind(row, params.date_field, created)) for row in rows]
        yield PollPage(events, {})
        if len(rows) < params.page_size:
            return
        after = rows[-1]


def _page_events(trigger: DateTrigger, info: EntityInfo, state: CursorState,
                 rows: list[dict[str, Any]], date_field: str) -> tuple[list[Event], str | None]:
    events: list[Event] = []
    last: str | None = None
    created = created_field(info)
    for row in rows:
        last = str(row[date_field])[:19]
        event_id = identity(info, row, date_field)
        if state.accept(last, event_id):
            events.append(Event(event_id, row, trigger.kind(row, date_field, created)))
    return events, last


NEW_RECORD_SPEC = TriggerSpec(
    key="dynamics_fo.new_record", params=NewRecordParams, poll=partial(poll_dates, NEW),
    summary="Each new record of an F&O data entity (by its created-date field), exactly once.",
    connection_types=CONNECTION_TYPES, backfill=partial(backfill_dates, NEW))

NEW_OR_UPDATED_RECORD_SPEC = TriggerSpec(
    key="dynamics_fo.new_or_updated_record", params=NewOrUpdatedRecordParams,
    poll=partial(poll_dates, NEW_OR_UPDATED),
    summary="Each new or changed record of an F&O data entity (by its change-date field), "
            "exactly once.",
    connection_types=CONNECTION_TYPES, backfill=partial(backfill_dates, NEW_OR_UPDATED))

TRIGGER_SPECS = (NEW_RECORD_SPEC, NEW_OR_UPDATED_RECORD_SPEC)
