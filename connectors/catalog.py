"""Every trigger and action that ships with recipe-runner, in one registry."""

from __future__ import annotations

from functools import cache

from connectors.base import Registry
from connectors.builtin import LOG_SPEC, SCHEDULE_SPEC
from connectors.dynamics365 import TRIGGER_SPECS as DYNAMICS365_TRIGGERS
from connectors.dynamics365.actions import ACTION_SPECS as DYNAMICS365_ACTIONS
from connectors.dynamics_fo import ACTION_SPECS as FO_ACTIONS
from connectors.dynamics_fo import TRIGGER_SPECS as FO_TRIGGERS
from connectors.http import REQUEST_SPEC
from connectors.http.webhook import SPEC as WEBHOOK_SPEC


@cache
def default_registry() -> Registry:
    registry = Registry()
    for spec in (LOG_SPEC, SCHEDULE_SPEC, REQUEST_SPEC, WEBHOOK_SPEC, *DYNAMICS365_TRIGGERS,
                 *DYNAMICS365_ACTIONS, *FO_TRIGGERS, *FO_ACTIONS):
        registry.add(spec)
    return registry
