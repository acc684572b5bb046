"""Helpers for the Dynamics 365 action tests: run an action by its registry key."""

from __future__ import annotations

from typing import Any

from connectors.catalog import default_registry
from connectors.dynamics365 import DataverseClient
from tests.d365_support import step_context


async def run(client: DataverseClient, action: str, /, **params: Any) -> dict[str, Any]:
    """Validate ``params`` with the action's own model (as the engine does), then run it."""
    spec = default_registry().actions[f"dynamics365.{action}"]
    return await spec.run(spec.params.model_validate(params), step_context(client))
