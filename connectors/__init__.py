"""Connectors: triggers and actions for Dataverse, F&O, HTTP and more."""

from __future__ import annotations

__all__: list[str] = []
