"""The ``dynamics365.batch`` action's params: rows of one table, or mixed requests."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from connectors.base import Params
from connectors.dynamics365.actions.records import KeyValue
from connectors.dynamics365.actions.request_options import IMPERSONATE, Impersonate

MAX_BATCH_PARTS = 1000


class BatchRequest(Params):
    operation: Literal["create", "update", "upsert", "delete"] = Field(
        description="What to do with the row.", examples=["update"])
    table: str = Field(description="The row's table.", examples=["accounts"])
    id: str | None = Field(None, description="The row's id (update/upsert/delete).",
                           examples=["<guid>"])
    key: dict[str, KeyValue] | None = Field(None, description="Or its alternate key.",
                                            examples=[{"accountnumber": "A-1"}])
    fields: dict[str, Any] = Field(default_factory=dict, description="Column values.",
                                   examples=[{"name": "Contoso"}])


class BatchParams(Params):
    table: str | None = Field(None, description="Rows mode: the table of every row.",
                              examples=["accounts"])
    operation: Literal["create", "update", "upsert"] | None = Field(
        None, description="Rows mode: what to do with every row.", examples=["upsert"])
    rows: list[dict[str, Any]] | None = Field(
        None, description="Rows mode: column values (lookups and labels as in create).",
        examples=[[{"accountnumber": "A-1", "name": "Contoso"}]])
    key_columns: list[str] | None = Field(
        None, description="Rows mode: the alternate-key columns that address each row.",
        examples=[["accountnumber"]])
    strategy: Literal["bulk", "batch"] = Field(
        "bulk", description="bulk: CreateMultiple/UpdateMultiple/UpsertMultiple with $batch "
        "fallback; batch: $batch only.", examples=["bulk"])
    chunk_size: int = Field(1000, ge=1, le=5000, description="Rows per bulk request.",
                            examples=[500])
    parallel: int = Field(4, ge=1, le=16, description="Chunks in flight at once.",
                          examples=[4])
    requests: list[BatchRequest] | None = Field(
        None, description="Mixed mode: requests on any tables.",
        examples=[[{"operation": "create", "table": "tasks", "fields": {"subject": "x"}}]])
    atomic: bool = Field(False, description="Mixed mode: all or nothing (one change set).",
                         examples=[True])
    impersonate: Impersonate | None = IMPERSONATE

    @model_validator(mode="after")
    def _one_mode(self) -> BatchParams:
        if (self.rows is None) == (self.requests is None):
            raise ValueError("give either rows (with table and operation) or requests")
        if self.rows is not None and (self.table is None or self.operation is None):
            raise ValueError("rows need table and operation")
        return self
