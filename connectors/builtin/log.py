"""``log``: write one structured log line from a recipe (the message and any fields)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from connectors.base import ActionSpec, Params, StepContext


class LogParams(Params):
    message: str = Field(description="The log message.", examples=["Account deleted"])
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
    fields: dict[str, Any] = Field(
        default_factory=dict, description="Extra key/value pairs for the log line.",
        examples=[{"accountid": "{{ trigger.record.accountid }}"}],
    )


async def log_action(params: LogParams, ctx: StepContext) -> dict[str, Any]:
    if ctx.log is not None:
        getattr(ctx.log, params.level)("recipe.log", message=params.message, **params.fields)
    return {"message": params.message, "fields": params.fields}


SPEC = ActionSpec(
    key="log", params=LogParams, run=log_action,
    summary="Write a structured log line with a message and fields.",
    side_effects=False,
)
