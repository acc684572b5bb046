"""Dataverse's webhook deliveries as trigger events: the ``RemoteExecutionContext`` a
registered step posts, read into the same events a poll gives.

Dataverse serializes an entity as ``{"Attributes": [{"key", "value"}], "Id", "LogicalName",
"RowVersion", "FormattedValues", …}`` with typed values: a lookup is an ``EntityReference``,
a choice an ``OptionSetValue`` (a list of them for a multi-select choice), money ``Money``,
a date ``"/Date(<ms since 1970>)/"`` (Microsoft's "Use WebHooks to create external handlers
for server events"). :func:`web_api_row` turns that into the row the Web API returns —
``_<lookup>_value`` ids, plain numbers, ISO timestamps, ``versionnumber`` and
``@odata.etag`` from ``RowVersion`` — so a recipe's templates read a pushed record exactly
as a polled one, and its event key (``<id>:<versionnumber>``) is the poll's: the same change
seen both ways makes one job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.base import Event

_WCF_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
MESSAGES = {"Create": "created", "Update": "updated"}


def web_api_row(entity: Mapping[str, Any], primary_id: str | None = None) -> dict[str, Any]:
    """A serialized Dataverse entity (an image or the Target) as a Web API row."""
    row: dict[str, Any] = {}
    for pair in entity.get("Attributes") or []:
        name, value = str(pair.get("key")), pair.get("value")
        row.update(_column(name, value))
    if primary_id and entity.get("Id"):
        row[primary_id] = str(entity["Id"])
    version = entity.get("RowVersion")
    if version not in (None, ""):
        row["versionnumber"] = int(str(version))
        row["@odata.etag"] = f'W/"{version}"'
    for pair in entity.get("FormattedValues") or []:
        key = str(pair.get("key"))
        if key in row:
            row[f"{key}@OData.Community.Display.V1.FormattedValue"] = pair.get("value")
    return row


def _column(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and (str(value.get("__type", "")).startswith("EntityReference")
                                    or {"Id", "LogicalName"} <= set(value)):
        lookup = f"_{name}_value"
        column = {lookup: str(value["Id"]),
                  f"{lookup}@Microsoft.Dynamics.CRM.lookuplogicalname": value["LogicalName"]}
        if value.get("Name"):
            column[f"{lookup}@OData.Community.Display.V1.FormattedValue"] = value["Name"]
        return column
    if isinstance(value, dict) and "Value" in value:  # OptionSetValue, Money
        return {name: value["Value"]}
    if isinstance(value, list) and all(isinstance(v, dict) and "Value" in v for v in value):
        return {name: ",".join(str(v["Value"]) for v in value)}  # a multi-select choice
    if isinstance(value, str) and (match := _WCF_DATE.match(value)):
        moment = datetime.fromtimestamp(int(match.group(1)) / 1000, UTC)
        return {name: moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
    return {name: value}


def parameter(pairs: Any, key: str) -> Any:
    """The value under ``key`` in a ``[{"key", "value"}]`` list (InputParameters, images)."""
    for pair in pairs or []:
        if isinstance(pair, Mapping) and pair.get("key") == key:
            return pair.get("value")
    return None


def pushed_event(context: Mapping[str, Any], primary_id: str,
                 identity: Any) -> Event | None:
    """The event of a Create or Update delivery, from its post image (the row after the
    write, with the columns the step registered) over the Target (what was written); None
    for another message or a body Dataverse trimmed (over 256 KB: the poll brings it)."""
    kind = MESSAGES.get(str(context.get("MessageName")))
    target = parameter(context.get("InputParameters"), "Target")
    if kind is None or not isinstance(target, Mapping):
        return None
    image = parameter(context.get("PostEntityImages"), "post")
    row = {**web_api_row(target, primary_id),
           **(web_api_row(image, primary_id) if isinstance(image, Mapping) else {})}
    row.setdefault(primary_id, str(context.get("PrimaryEntityId")))
    if "versionnumber" not in row:
        return None  # no version: no identity to share with the poll; the poll brings it
    return Event(identity(row, primary_id), row, kind)


def changed_columns(context: Mapping[str, Any]) -> frozenset[str]:
    """The columns the write named (an Update's Target holds only those)."""
    target = parameter(context.get("InputParameters"), "Target")
    if not isinstance(target, Mapping):
        return frozenset()
    return frozenset(str(pair.get("key")) for pair in target.get("Attributes") or [])
