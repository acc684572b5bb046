"""``associate`` and ``disassociate``: relate two records through a navigation property.

A single-valued navigation property (a lookup, e.g. ``parentcustomerid_account``) is set with
``PUT <set>(<id>)/<nav>/$ref`` and cleared with ``DELETE …/<nav>/$ref``; a collection (e.g.
``contact_customer_accounts``) gains a member with ``POST …/<nav>/$ref`` and loses one with
``DELETE …/<nav>/$ref?$id=<member URL>`` (reference §3). Which one applies comes from the
table's ``ManyToOneRelationships`` metadata.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from connectors.base import ActionSpec, Params, StepContext
from connectors.dynamics365.actions import repeats
from connectors.dynamics365.actions.metadata import TableInfo, table_info
from connectors.dynamics365.actions.records import KeyValue, RecordAddress, client_of
from connectors.dynamics365.actions.request_options import (
    IMPERSONATE,
    Impersonate,
    caller_headers,
)
from connectors.dynamics365.actions.values import bind_key, record_path
from connectors.dynamics365.actions.writes import raise_refused
from connectors.dynamics365.client import DataverseClient
from connectors.errors import FatalError
from connectors.odata import escaping as odata

CONNECTION_TYPES = ("dynamics365",)


class RelatedRecord(Params):
    table: str = Field(description="The related record's table.", examples=["contacts"])
    id: str | None = Field(None, description="Its id.", examples=["<guid>"])
    key: dict[str, KeyValue] | None = Field(None, description="Or its alternate key.",
                                            examples=[{"emailaddress1": "a@b.test"}])


class RelateParams(RecordAddress):
    relationship: str = Field(
        description="Navigation property on this table: a lookup's (single-valued) or a "
                    "one-to-many / many-to-many collection's.",
        examples=["contact_customer_accounts", "primarycontactid"])
    related: RelatedRecord = Field(description="The other record.",
                                   examples=[{"table": "contacts", "id": "<guid>"}])
    impersonate: Impersonate | None = IMPERSONATE

    @field_validator("relationship")
    @classmethod
    def _segment(cls, value: str) -> str:
        return odata.path_segment(value)


def is_single_valued(info: TableInfo, nav: str) -> bool:
    return nav in info.navigation.values() or nav in info.columns


async def _paths(client: DataverseClient, params: RelateParams) -> tuple[bool, str, str]:
    """(single-valued?, ``<set>(<id>)/<nav>/$ref``, absolute URL of the related record)."""
    info, path = await record_path(client, params.table, params.record_id, params.key)
    related = await table_info(client, params.related.table)
    member = client.base_url + related.entity_set + bind_key(params.related.id,
                                                             params.related.key)
    return is_single_valued(info, params.relationship), \
        f"{path}/{params.relationship}/$ref", member


async def associate(params: RelateParams, ctx: StepContext) -> dict[str, Any]:
    """Relate the two records; ``{"associated": true}``. Already related (a many-to-many
    pair answers "duplicate key", e.g. when sent again) is success: the relation exists."""
    client = client_of(ctx)
    single, ref, member = await _paths(client, params)
    try:
        await client.request("PUT" if single else "POST", ref, json_body={"@odata.id": member},
                             headers=caller_headers(params.impersonate))
    except FatalError as exc:
        if not repeats.is_duplicate_key(exc.status, exc.code, exc.message):
            raise_refused(exc, "associate", params.impersonate)
        repeats.recognised(ctx, "associate", ref)
    return {"associated": True}


async def disassociate(params: RelateParams, ctx: StepContext) -> dict[str, Any]:
    """Remove the relation; ``{"disassociated": true}``. Sent again, a relation already
    removed (404) is this step's own earlier effect."""
    client = client_of(ctx)
    single, ref, member = await _paths(client, params)
    try:
        await client.request("DELETE", ref, params=None if single else {"$id": member},
                             headers=caller_headers(params.impersonate))
    except FatalError as exc:
        if not (repeats.is_missing(exc.status) and (exc.resent or ctx.may_repeat)):
            raise_refused(exc, "disassociate", params.impersonate)
        repeats.recognised(ctx, "disassociate", ref)
    return {"disassociated": True}


SPECS = (
    ActionSpec(key="dynamics365.associate", params=RelateParams, run=associate,
               connection_types=CONNECTION_TYPES,
               summary="Relate two Dataverse records through a navigation property ($ref).",
               idempotency="natural",
               idempotency_note="relating records already related succeeds"),
    ActionSpec(key="dynamics365.disassociate", params=RelateParams, run=disassociate,
               connection_types=CONNECTION_TYPES,
               summary="Remove the relation between two Dataverse records ($ref).",
               idempotency="natural",
               idempotency_note="sent again, a relation already removed succeeds"),
)
