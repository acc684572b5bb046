"""``search_records``: an OData query over one entity, following F&O's ``$skip`` nextLinks.

``filter``, ``select``, ``orderby``, ``top`` and ``skip`` go to the service as written (F&O
supports ``$skip``, unlike Dataverse; reference §9); the company settings add
``cross-company=true`` and a ``dataAreaId`` filter as :mod:`connectors.dynamics_fo.company`
describes. Pages are followed until ``top`` rows, the end, or ``max_records`` (then
``"more": true``), so a query over 25,000 rows reads three 10,000-row pages.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from connectors.base import ActionSpec, StepContext
from connectors.dynamics_fo.actions.common import (
    CONNECTION_TYPES,
    EntityParams,
    client_of,
    record_of,
)
from connectors.dynamics_fo.company import and_filters, read_options
from connectors.dynamics_fo.metadata import entity_info
from connectors.odata.escaping import FO_FILTER_TEMPLATE
from connectors.odata.params import Columns


class SearchRecordsParams(EntityParams):
    filter: str | None = Field(
        None, description="OData $filter (F&O dialect: enum literals, '*' wildcards). Each "
        "{{ }} value in it becomes an OData literal; a value containing '*' is refused.",
        examples=["CustomerGroupId eq '10' and CreditLimit gt 1000",
                  "CustomerAccount eq {{ trigger.record.CustomerAccount }}"],
        json_schema_extra=FO_FILTER_TEMPLATE)
    select: Columns = Field(None, description="Fields to return.",
                            examples=[["CustomerAccount", "OrganizationName"]])
    orderby: str | None = Field(None, description="OData $orderby.",
                                examples=["OrganizationName asc"])
    top: int | None = Field(None, ge=1, description="At most this many records.",
                            examples=[50])
    skip: int | None = Field(None, ge=0, description="Skip this many records first.",
                             examples=[100])
    max_records: int = Field(100_000, ge=1, le=1_000_000,
                             description="Stop reading after this many (then more: true).")


def query_options(params: SearchRecordsParams, company_params: dict[str, str],
                  company_filter: str | None) -> dict[str, str | int]:
    options: dict[str, str | int] = dict(company_params)
    where = and_filters(company_filter, params.filter)
    if where:
        options["$filter"] = where
    if params.select:
        options["$select"] = ",".join(params.select)
    if params.orderby:
        options["$orderby"] = params.orderby
    if params.top is not None:
        options["$top"] = params.top
    if params.skip:
        options["$skip"] = params.skip
    return options


async def search_records(params: SearchRecordsParams, ctx: StepContext) -> dict[str, Any]:
    """``{"records": [...], "count": n, "more": bool}``."""
    client = client_of(ctx)
    info = await entity_info(client, params.entity)
    options = query_options(params, *read_options(params.scope(client), info))
    records: list[dict[str, Any]] = []
    more = False
    async for page in client.paginate(info.set_name, options):
        records += (record_of(row) for row in page.rows)
        if len(records) >= params.max_records:
            more = len(records) > params.max_records or page.next_link is not None
            records = records[:params.max_records]
            break
    return {"records": records, "count": len(records), "more": more}


SPEC = ActionSpec(key="dynamics_fo.search_records", params=SearchRecordsParams,
                  run=search_records, connection_types=CONNECTION_TYPES,
                  summary="Query an F&O entity (filter, select, orderby, top, skip, "
                          "cross-company), following every page.")
