"""Connector-free building blocks: the ``schedule`` trigger and the ``log`` action."""

from __future__ import annotations

from connectors.builtin.log import SPEC as LOG_SPEC
from connectors.builtin.schedule import SPEC as SCHEDULE_SPEC

__all__ = ["LOG_SPEC", "SCHEDULE_SPEC"]
