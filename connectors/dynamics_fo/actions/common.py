"""What every F&O action shares: the entity and company params, the client, record output."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from connectors.base import Params, StepContext
from connectors.dynamics_fo.client import FoClient
from connectors.dynamics_fo.company import CompanyScope, scope_of
from connectors.dynamics_fo.metadata import EntityInfo
from connectors.odata.params import EntitySet

CONNECTION_TYPES = ("dynamics_fo",)
KeyValue = str | int | float


class EntityParams(Params):
    """An entity set and the company to work in."""

    entity: EntitySet = Field(
        description="The data entity's public collection name (entity set).",
        examples=["CustomersV3"])
    data_area: str | None = Field(
        None, description="Company (dataAreaId); default: the connection's.", examples=["usmf"])
    cross_company: bool | None = Field(
        None, description="Work across every company; default: the connection's setting.",
        examples=[True])

    def scope(self, client: FoClient) -> CompanyScope:
        return scope_of(client, self.data_area, self.cross_company)


class KeyedParams(EntityParams):
    """One entity by its full key (``dataAreaId`` may come from ``data_area``)."""

    key: dict[str, KeyValue] = Field(
        description="Key fields and values; dataAreaId defaults to the company.",
        examples=[{"CustomerAccount": "US-001"},
                  {"dataAreaId": "usmf", "SalesOrderNumber": "SO-0001"}])


def client_of(ctx: StepContext) -> FoClient:
    return FoClient.of(ctx, "action")


def record_of(body: Any) -> dict[str, Any]:
    """An entity as returned, without the response's ``@odata.context``."""
    if not isinstance(body, dict):
        return {}
    return {k: v for k, v in body.items() if k != "@odata.context"}


def has_key(info: EntityInfo, fields: dict[str, Any]) -> bool:
    """``fields`` hold the entity's whole key (so a second create of them is refused)."""
    return all(fields.get(k) not in (None, "") for k in info.key)
