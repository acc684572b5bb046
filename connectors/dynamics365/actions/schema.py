"""``get_schema``: tables, or one table's columns with types, option sets and keys.

Everything comes from ``EntityDefinitions`` (through the per-client cache of
:mod:`~connectors.dynamics365.actions.metadata`), so recipe validation and a person exploring
an environment see the same names.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from connectors.base import ActionSpec, Params, StepContext
from connectors.dynamics365.actions.metadata import Column, TableInfo, list_tables, table_info
from connectors.dynamics365.actions.records import client_of


class GetSchemaParams(Params):
    table: str | None = Field(None, description="A table (entity set or logical name); all "
                              "tables, without columns, when omitted.",
                              examples=["opportunities", None])


def column_schema(info: TableInfo, column: Column) -> dict[str, Any]:
    schema: dict[str, Any] = {"name": column.name, "type": column.type,
                              "read_only": column.read_only}
    if column.max_length is not None:
        schema["max_length"] = column.max_length
    if column.options:
        schema["options"] = [{"value": v, "label": label} for v, label in column.options.items()]
    if column.is_lookup:
        schema["targets"] = {t: info.nav_property(column.name, t) for t in column.targets}
    return schema


def table_schema(info: TableInfo) -> dict[str, Any]:
    return {"logical_name": info.logical_name, "entity_set": info.entity_set,
            "primary_id": info.primary_id, "primary_name": info.primary_name,
            "display_name": info.display_name,
            "columns": [column_schema(info, c) for c in info.columns.values()],
            "keys": [{"name": n, "columns": list(cols)} for n, cols in info.keys.items()]}


async def get_schema(params: GetSchemaParams, ctx: StepContext) -> dict[str, Any]:
    """``{"tables": [...]}`` or ``{"table": {..., "columns": [...], "keys": [...]}}``."""
    client = client_of(ctx)
    if params.table is None:
        return {"tables": [{"logical_name": t["LogicalName"], "entity_set": t["EntitySetName"],
                            "primary_id": t["PrimaryIdAttribute"],
                            "primary_name": t.get("PrimaryNameAttribute"),
                            "change_tracking": t.get("ChangeTrackingEnabled")}
                           for t in await list_tables(client)]}
    return {"table": table_schema(await table_info(client, params.table))}


SPECS = (ActionSpec(key="dynamics365.get_schema", params=GetSchemaParams, run=get_schema,
                    connection_types=("dynamics365",),
                    summary="Describe Dataverse tables: columns, types, option sets, keys."),)
