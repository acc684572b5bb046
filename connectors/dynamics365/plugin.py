"""The Dataverse connector: its connection type, triggers and actions."""

from __future__ import annotations

from connectors.base import Connector
from connectors.dynamics365 import TRIGGER_SPECS
from connectors.dynamics365.actions import ACTION_SPECS
from connectors.dynamics365.connection import DATAVERSE_CONNECTION

CONNECTOR = Connector("dynamics365", "Dataverse Web API (Dynamics 365 CE)",
                      triggers=tuple(TRIGGER_SPECS), actions=tuple(ACTION_SPECS),
                      connection_types=(DATAVERSE_CONNECTION,))
