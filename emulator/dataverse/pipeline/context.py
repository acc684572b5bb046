"""The ``RemoteExecutionContext`` a webhook receives, serialized as Dataverse serializes it
(reference: "Use WebHooks to create external handlers for server events").

Entities are ``{"Attributes": [{"key", "value"}], "EntityState", "FormattedValues", "Id",
"KeyAttributes", "LogicalName", "RelatedEntities", "RowVersion"}`` (the Target with
``"__type": "Entity:…"``); lookups are EntityReference objects, option sets
``OptionSetValue``, money ``Money``, datetimes ``"/Date(<ms>)/"``; a Delete's Target is an
EntityReference. When the body would exceed 256 KB, ``InputParameters``, the images and
``ParentContext`` are left out and ``x-ms-dynamics-msg-size-exceeded`` is sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emulator.dataverse.events import RowEvent
from emulator.dataverse.pipeline.registrations import Step
from emulator.dataverse.schema import Attribute, AttributeType, Table

T = AttributeType
CONTRACTS = "http://schemas.microsoft.com/xrm/2011/Contracts"
SIZE_LIMIT = 256 * 1024


@dataclass(frozen=True)
class Operation:
    """What one execution shares between its steps."""

    operation_id: str
    correlation_id: str
    request_id: str | None
    created_on_s: float
    organization_id: str
    organization_name: str
    business_unit_id: str
    system_user_id: str


def wcf_date(epoch_s: float) -> str:
    return f"/Date({int(epoch_s * 1000)})/"


def reference(logical_name: str, record_id: str, name: str | None = None) -> dict[str, Any]:
    return {"__type": f"EntityReference:{CONTRACTS}", "Id": record_id, "KeyAttributes": [],
            "LogicalName": logical_name, "Name": name, "RowVersion": None}


def value(attr: Attribute, row: Mapping[str, Any]) -> Any:
    raw = row.get(attr.column)
    if raw is None:
        return None
    if attr.type is T.LOOKUP:
        return reference(str(row.get(attr.type_column) or attr.targets[0]), str(raw))
    if attr.type.is_option_set:
        return {"__type": f"OptionSetValue:{CONTRACTS}", "Value": raw}
    if attr.type is T.MULTISELECT:
        return [{"__type": f"OptionSetValue:{CONTRACTS}", "Value": int(v)}
                for v in str(raw).split(",")]
    if attr.type is T.MONEY:
        return {"__type": f"Money:{CONTRACTS}", "Value": raw}
    if attr.type is T.BOOLEAN:
        return bool(raw)
    if attr.type is T.DATETIME:
        return wcf_date(raw)
    return raw


def attributes(table: Table, row: Mapping[str, Any],
               only: frozenset[str] | None = None) -> list[dict[str, Any]]:
    pairs = []
    for attr in table.attributes.values():
        if attr.column not in row or attr.name == "versionnumber" or (
                only is not None and attr.name not in only and attr.name != table.primary_id):
            continue
        pairs.append({"key": attr.name, "value": value(attr, row)})
    return pairs


def formatted_values(table: Table, row: Mapping[str, Any],
                     only: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """The display forms Dataverse sends beside typed values: choice labels (a
    multi-select's joined by '; ') and Yes/No."""
    pairs = []
    for attr in table.attributes.values():
        raw = row.get(attr.column)
        if raw is None or attr.column not in row or (only is not None and attr.name not in only):
            continue
        if attr.type.is_option_set and int(raw) in attr.options:
            pairs.append({"key": attr.name, "value": attr.options[int(raw)]})
        elif attr.type is T.MULTISELECT:
            labels = [attr.options.get(int(v), str(v)) for v in str(raw).split(",")]
            pairs.append({"key": attr.name, "value": "; ".join(labels)})
        elif attr.type is T.BOOLEAN:
            pairs.append({"key": attr.name, "value": "Yes" if raw else "No"})
    return pairs


def entity(table: Table, record_id: str, row: Mapping[str, Any],
           only: frozenset[str] | None = None, typed: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"__type": f"Entity:{CONTRACTS}"} if typed else {}
    body.update({"Attributes": attributes(table, row, only), "EntityState": None,
                 "FormattedValues": formatted_values(table, row, only), "Id": record_id,
                 "KeyAttributes": [],
                 "LogicalName": table.logical_name, "RelatedEntities": [],
                 "RowVersion": str(row["versionnumber"]) if row.get("versionnumber") else None})
    return body


def target(event: RowEvent) -> Any:
    if event.message == "Delete":
        return reference(event.table.logical_name, event.record_id)
    written = {**event.target, event.table.primary_id: event.record_id}
    return entity(event.table, event.record_id, written, typed=True)


def images(step: Step, event: RowEvent, pre: bool) -> list[dict[str, Any]]:
    row = event.pre if pre else event.post
    if row is None or (pre and event.message == "Create") or (
            not pre and event.message == "Delete"):
        return []
    return [{"key": image.alias, "value": entity(event.table, event.record_id, row,
                                                  image.attributes)}
            for image in step.images if image.wants(pre)]


def context(step: Step, event: RowEvent, operation: Operation) -> dict[str, Any]:
    caller = event.caller
    user = caller.user_id if caller else operation.system_user_id
    initiating = caller.on_behalf_of or user if caller else user
    outputs = ([{"key": "id", "value": event.record_id}] if event.message == "Create" else [])
    return {
        "BusinessUnitId": operation.business_unit_id,
        "CorrelationId": operation.correlation_id, "Depth": 1,
        "InitiatingUserId": initiating,
        "InputParameters": [{"key": "Target", "value": target(event)}],
        "IsExecutingOffline": False, "IsInTransaction": step.mode == 0,
        "IsOfflinePlayback": False, "IsolationMode": 1, "MessageName": event.message,
        "Mode": step.mode, "OperationCreatedOn": wcf_date(operation.created_on_s),
        "OperationId": operation.operation_id, "OrganizationId": operation.organization_id,
        "OrganizationName": operation.organization_name, "OutputParameters": outputs,
        "OwningExtension": {"Id": step.id, "KeyAttributes": [],
                            "LogicalName": "sdkmessageprocessingstep", "Name": step.name,
                            "RowVersion": None},
        "ParentContext": None, "PostEntityImages": images(step, event, pre=False),
        "PreEntityImages": images(step, event, pre=True),
        "PrimaryEntityId": event.record_id, "PrimaryEntityName": event.table.logical_name,
        "RequestId": operation.request_id, "SecondaryEntityName": "none",
        "SharedVariables": [], "Stage": step.stage, "UserId": user,
    }


def serialize(body: dict[str, Any]) -> tuple[bytes, bool]:
    """The JSON body, trimmed as Dataverse trims it above 256 KB; and whether it was."""
    text = json.dumps(body, separators=(",", ":")).encode()
    if len(text) <= SIZE_LIMIT:
        return text, False
    trimmed = {k: v for k, v in body.items() if k not in (
        "InputParameters", "PreEntityImages", "PostEntityImages", "ParentContext")}
    return json.dumps(trimmed, separators=(",", ":")).encode(), True
