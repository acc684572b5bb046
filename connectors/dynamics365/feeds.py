"""Table feeds for ``new_record`` and ``new_or_updated_record``: every recipe watching one
table through one connection shares a single read of it.

The feed polls the table exactly as one recipe would (same query shape, cursor and event
identities, :mod:`connectors.dynamics365.triggers`) with the union of the members' columns,
no filter, and the widest ``lookback`` / ``safety_lag``. Each member then sees an event only
if its own ``filter`` holds for the row — evaluated locally with the service's semantics
(:mod:`connectors.odata.local_filter`) — with the record cut down to what its own query
would have returned. A filter that needs the service keeps its recipe polling on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from connectors.base import Event
from connectors.dynamics365.actions.metadata import table_info
from connectors.dynamics365.actions.values import from_record
from connectors.dynamics365.client import DataverseClient
from connectors.dynamics365.push import pushed_event
from connectors.dynamics365.registration import WebhookPlan, register, unregister
from connectors.odata.local_filter import LocalFilter, NotLocal

if TYPE_CHECKING:  # the triggers module builds its specs with this one
    from connectors.dynamics365.triggers import RecordTriggerParams, TimestampTrigger

_ALWAYS = ("createdon", "modifiedon")  # the trigger's query always adds them


@dataclass(frozen=True)
class TimestampFeed:
    """The :class:`~connectors.base.FeedSpec` (and :class:`~connectors.base.PushFeed`) of one
    timestamp trigger."""

    trigger: TimestampTrigger

    @property
    def column(self) -> str:  # createdon or modifiedon
        return self.trigger.column

    def group(self, params: RecordTriggerParams) -> str:
        if params.filter:
            try:
                LocalFilter(params.filter)
            except NotLocal as exc:
                if params.mode != "poll":
                    raise ValueError(f"mode {params.mode} needs a filter the daemon can "
                                     f"evaluate on pushed rows: {exc}") from None
                raise ValueError(f"its filter is evaluated by Dataverse only: {exc}") from None
        group = params.table if params.primary_key is None \
            else f"{params.table}({params.primary_key})"
        if params.ignore_own_changes:
            group += "|own-changes-skipped"
        if params.include_labels:
            group += "|labels"
        return group if params.mode == "poll" else f"{group}|{params.mode}"

    def feed_params(self, members: Sequence[RecordTriggerParams]) -> RecordTriggerParams:
        return members[0].model_copy(update={
            "select": _union(members), "filter": None, "since": "now",
            "page_size": max(m.page_size for m in members),
            "lookback": max(m.lookback for m in members),
            "safety_lag": max(m.safety_lag for m in members)})

    def view(self, params: RecordTriggerParams) -> Callable[[Event], Event | None]:
        test = LocalFilter(params.filter) if params.filter else None
        watched = getattr(params, "changed_columns", None) or []
        columns = None if params.select is None else {*params.select, self.column, *_ALWAYS,
                                                      *watched}

        def member_view(event: Event) -> Event | None:
            if test is not None and not test(event.record):
                return None
            if columns is None:
                return event
            return replace(event, record=_cut(event, columns))
        return member_view

    def stamp(self, event: Event) -> str:
        return str(event.record[self.column])[:19]

    def position(self, cursor: Mapping[str, Any]) -> str | None:
        return cursor.get("watermark")

    def floor(self, cursor: Mapping[str, Any]) -> str | None:
        return cursor.get("floor")

    def starts_now(self, params: RecordTriggerParams) -> bool:
        return params.since == "now"


    # -- push (webhooks): see connectors.dynamics365.push and .registration --------------

    def mode(self, params: RecordTriggerParams) -> str:
        return params.mode

    async def register_push(self, client: DataverseClient,
                            members: Sequence[RecordTriggerParams], name: str, url: str,
                            key: str) -> PushTarget:
        params = self.feed_params(members)
        info = await table_info(client, params.table)
        own = await client.user_id() if params.ignore_own_changes else None
        plan = WebhookPlan(name, url, key, info.logical_name,
                           ("Create",) if self.column == "createdon" else ("Create", "Update"),
                           self._image_columns(params), _filtering(members))
        await register(client, plan)
        return PushTarget(info.primary_id, own, params.include_labels)

    def pushed(self, body: Mapping[str, Any], target: PushTarget) -> list[Event]:
        event = pushed_event(body, target.primary_id, self.trigger.identity)
        if event is None or (target.own_user is not None
                             and self.trigger.made_by(event.record, target.own_user)):
            return []
        record = from_record(event.record) if target.labels else {
            k: v for k, v in event.record.items() if "@" not in k or k == "@odata.etag"}
        return [replace(event, record=record)]

    async def unregister_push(self, client: DataverseClient, name: str) -> bool:
        return await unregister(client, name)

    def _image_columns(self, params: RecordTriggerParams) -> tuple[str, ...] | None:
        """The post image's columns, by logical name (a lookup selected as ``_x_value``
        is the column ``x``); None: every column."""
        if params.select is None:
            return None
        author = [_logical(c) for c in self.trigger.authors] \
            if params.ignore_own_changes else []
        names = [_logical(c) for c in (*params.select, self.column, *_ALWAYS, *author)]
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class PushTarget:
    """What reading a delivery needs: the table's primary id column, and this connection's
    own user when its changes are skipped."""

    primary_id: str
    own_user: str | None = None
    labels: bool = False  # records carry <column>@label (include_labels)


def _filtering(members: Sequence[RecordTriggerParams]) -> tuple[str, ...] | None:
    """An Update step's filteringattributes: the watched columns when every member watches
    some (Dataverse then posts only those updates); None when one wants every change."""
    watched = [getattr(m, "changed_columns", None) for m in members]
    if not all(watched):
        return None
    return tuple(dict.fromkeys(_logical(c) for w in watched for c in w or ()))


def _logical(column: str) -> str:
    return column[1:-6] if column.startswith("_") and column.endswith("_value") else column


def _union(members: Sequence[RecordTriggerParams]) -> list[str] | None:
    """Every member's columns and the columns their filters read; None (all) if one asks
    for all."""
    columns: dict[str, None] = {}
    for member in members:
        if member.select is None:
            return None
        columns.update(dict.fromkeys(member.select))
        columns.update(dict.fromkeys(getattr(member, "changed_columns", None) or []))
        if member.filter:
            columns.update(dict.fromkeys(sorted(LocalFilter(member.filter).columns)))
    return list(columns)


def _cut(event: Event, columns: set[str]) -> dict[str, object]:
    """The record as the member's own query returns it: its columns, the timestamps, the
    primary key (the column holding the event's record id) and the row's annotations."""
    record_id = event.key.split(":", 1)[0]
    return {name: value for name, value in event.record.items()
            if name.split("@", 1)[0] in columns or name.startswith("@") or value == record_id}
