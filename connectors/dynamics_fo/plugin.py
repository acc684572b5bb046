"""The Finance & Operations connector: its connection type, triggers and actions."""

from __future__ import annotations

from connectors.base import Connector
from connectors.dynamics_fo import ACTION_SPECS, TRIGGER_SPECS
from connectors.dynamics_fo.connection import FO_CONNECTION

CONNECTOR = Connector("dynamics_fo", "Dynamics 365 Finance & Operations OData",
                      triggers=tuple(TRIGGER_SPECS), actions=tuple(ACTION_SPECS),
                      connection_types=(FO_CONNECTION,))
