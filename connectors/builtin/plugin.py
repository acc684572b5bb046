"""The built-in ``log`` action and ``schedule`` trigger, registered as every connector is."""

from __future__ import annotations

from connectors.base import Connector
from connectors.builtin import LOG_SPEC, SCHEDULE_SPEC

CONNECTOR = Connector("builtin", "The log action and the schedule trigger",
                      triggers=(SCHEDULE_SPEC,), actions=(LOG_SPEC,))
