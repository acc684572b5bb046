"""recipe-runner: YAML recipes, durable jobs, Dynamics 365 connectors."""

from __future__ import annotations

__all__: list[str] = []
