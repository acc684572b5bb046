"""Recipe values ↔ Web API values, shared by every Dynamics 365 action.

**In** (:func:`to_payload`): a lookup is given naturally, ``{"table": "accounts", "id":
"<guid>"}`` or ``{"table": "accounts", "key": {"accountnumber": "A-1"}}`` (a bare GUID works
for a single-target lookup), and becomes ``<nav>@odata.bind: "/accounts(<guid>)"``, the
navigation property read from metadata (``parentcustomerid_account`` for a polymorphic
lookup). A choice column (option set, status, state) takes its value or its label
(case-insensitive), a multi-select choice a list of them (sent as ``"1,3"``); an unknown label
is a ``FatalError`` listing the valid ones. ``<nav>@odata.bind`` given verbatim passes through.

**Out** (:func:`from_record`), the one convention of every action's output: raw values stay
as Dataverse returns them, and beside each value that has a display form comes
``<property>@label`` (the FormattedValue: option set labels, lookup names, money and numbers
as shown) and, for lookups, ``<property>@table`` (the target's logical name)::

    {"statuscode": 3, "statuscode@label": "Won",
     "_customerid_value": "<guid>", "_customerid_value@label": "Contoso",
     "_customerid_value@table": "account", "@odata.etag": "W/\\"12\\""}

``@odata.context`` and other annotations are dropped.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from connectors.dynamics365.actions.metadata import Column, TableInfo, table_info
from connectors.dynamics365.client import DataverseClient
from connectors.errors import FatalError
from connectors.odata import escaping as odata

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_TABLE = "Microsoft.Dynamics.CRM.lookuplogicalname"
ANNOTATIONS_PREFER = f'odata.include-annotations="{FORMATTED},{LOOKUP_TABLE}"'
_RENAMED = {FORMATTED: "label", LOOKUP_TABLE: "table"}

KeyValues = Mapping[str, str | int | float | bool | None]


def record_key(record_id: str | None, key: KeyValues | None) -> str:
    """``(<guid>)`` or ``(accountnumber='A''1')`` (percent-encoded) for a URL path."""
    try:
        if record_id is not None:
            return odata.key_segment(record_id)
        if key:
            return odata.alternate_key(key)
    except ValueError as exc:
        raise FatalError(str(exc)) from None
    raise FatalError("give the record's id or an alternate key")


def bind_key(record_id: str | None, key: KeyValues | None) -> str:
    """The same key for a JSON body (``@odata.bind``/``@odata.id``): escaped, not encoded."""
    try:
        if record_id is not None:
            return odata.key_segment(record_id)
        if key:
            return "(" + ",".join(f"{odata.identifier(k)}={odata.literal(v)}"
                                  for k, v in key.items()) + ")"
    except ValueError as exc:
        raise FatalError(str(exc)) from None
    raise FatalError("a record reference needs an id or a key")


async def record_path(client: DataverseClient, table: str, record_id: str | None,
                      key: KeyValues | None) -> tuple[TableInfo, str]:
    info = await table_info(client, table)
    return info, info.entity_set + record_key(record_id, key)


async def reference_url(client: DataverseClient, reference: Mapping[str, Any]) -> str:
    """``/accounts(<guid>)`` from ``{"table": …, "id": …}`` or ``{"table": …, "key": {…}}``."""
    target = await table_info(client, str(reference.get("table")))
    return f"/{target.entity_set}{bind_key(reference.get('id'), reference.get('key'))}"


async def to_payload(client: DataverseClient, info: TableInfo,
                     fields: Mapping[str, Any]) -> dict[str, Any]:
    """The Web API body for ``fields`` of a row of ``info`` (see the module docstring)."""
    payload: dict[str, Any] = {}
    for name, value in fields.items():
        if "@" in name:
            payload[name] = value  # e.g. "primarycontactid@odata.bind": "/contacts(…)"
            continue
        column = info.columns.get(name)
        if column is None:
            raise FatalError(_unknown_column(info, name))
        if column.is_lookup and value is not None:
            nav, url = await _lookup(client, info, column, value)
            payload[f"{nav}@odata.bind"] = url
        elif column.type == "MultiSelectPicklist" and value is not None:
            payload[name] = choices_value(info, column, value)
        elif column.is_choice and value is not None:
            payload[name] = option_value(info, column, value)
        else:
            payload[name] = value
    return payload


async def _lookup(client: DataverseClient, info: TableInfo, column: Column,
                  value: Any) -> tuple[str, str]:
    if isinstance(value, str):
        if len(column.targets) != 1:
            raise FatalError(f"{info.logical_name}.{column.name} can point at "
                             f"{list(column.targets)}; give {{table: …, id: …}}")
        value = {"table": column.targets[0], "id": value}
    if not isinstance(value, Mapping) or "table" not in value:
        raise FatalError(f"{info.logical_name}.{column.name} is a lookup: give "
                         "{table: <table>, id: <guid>} or {table: <table>, key: {…}}")
    target = await table_info(client, str(value["table"]))
    nav = info.nav_property(column.name, target.logical_name)
    return nav, f"/{target.entity_set}{bind_key(value.get('id'), value.get('key'))}"


def option_value(info: TableInfo, column: Column, value: Any) -> int:
    """An option set value from its value or its label; FatalError naming the valid labels."""
    if isinstance(value, bool):
        raise FatalError(f"{info.logical_name}.{column.name} takes an option value or label")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    for option, label in column.options.items():
        if label.casefold() == text.casefold():
            return option
    labels = ", ".join(f"{label!r} ({option})" for option, label in column.options.items())
    raise FatalError(f"{info.logical_name}.{column.name} has no option labelled {text!r}; "
                     f"valid labels: {labels}")


def choices_value(info: TableInfo, column: Column, value: Any) -> str:
    """A multi-select choice's wire form, ``"1,3"``, from a list of values or labels (or a
    string of them separated by commas or semicolons, as Dataverse shows them)."""
    items = value if isinstance(value, list | tuple) else \
        [part for part in str(value).replace(";", ",").split(",") if part.strip()]
    return ",".join(str(option_value(info, column, item)) for item in items)


def _unknown_column(info: TableInfo, name: str) -> str:
    close = difflib.get_close_matches(name, list(info.columns), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"table {info.logical_name} has no column {name!r}{hint}"


def from_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A Web API row in the output convention (see the module docstring)."""
    record: dict[str, Any] = {}
    for name, value in row.items():
        prop, at, annotation = name.partition("@")
        if not at or name == "@odata.etag":
            record[name] = value
        elif annotation in _RENAMED and prop:
            record[f"{prop}@{_RENAMED[annotation]}"] = value
    return record


def select_option(info: TableInfo, select: list[str] | None) -> dict[str, str]:
    """``$select`` with lookups named as the Web API wants them (``_x_value``)."""
    if not select:
        return {}
    names = []
    for name in select:
        column = info.columns.get(name)
        names.append(f"_{name}_value" if column is not None and column.is_lookup
                     else odata.identifier(name))
    return {"$select": ",".join(dict.fromkeys(names))}
