"""Helpers for the Dynamics 365 action tests: run an action by its registry key, outside a
job (:func:`run`) or under a step identity as the engine runs it (:func:`act`)."""

from __future__ import annotations

from typing import Any

from connectors.base import StepContext
from connectors.catalog import default_registry
from connectors.dynamics365 import DataverseClient
from tests.d365_support import step_context

JOB = "7c1e0f3a-2222-4e5e-9a00-0000000f11e5"


async def run(client: DataverseClient, action: str, /, **params: Any) -> dict[str, Any]:
    """Validate ``params`` with the action's own model (as the engine does), then run it."""
    spec = default_registry().actions[f"dynamics365.{action}"]
    return await spec.run(spec.params.model_validate(params), step_context(client))


def step(client: DataverseClient, path: str = "actions[0]",
         may_repeat: bool = False) -> StepContext:
    """The context of step ``path`` of one job; the same path is the same step identity."""
    return StepContext(recipe="test", connection=client, job_id=JOB, step_path=path,
                       may_repeat=may_repeat)


async def act(ctx: StepContext, action: str, **params: Any) -> dict[str, Any]:
    """Run ``dynamics365.<action>`` under ``ctx``, its params validated as the engine does."""
    spec = default_registry().actions[f"dynamics365.{action}"]
    return await spec.run(spec.params.model_validate(params), ctx)
