"""Builds the emulator's aiohttp application from its feature modules.

Each feature module (``emulator.<name>``) has ``setup(app, state)``, which adds its routes
(and, for cross-cutting features, middlewares), and may have ``apply_seed(state, doc)``.
Control routes live under ``/_emulator/``, never under the Microsoft paths.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from wsgiref.handlers import format_date_time

from aiohttp import web

from emulator.config import EmulatorConfig
from emulator.state import STATE, EmulatorState

# Order matters: cross-cutting middlewares (request log, faults, service protection) first.
FEATURES: tuple[str, ...] = (
    "emulator.control",
    "emulator.identity",
    "emulator.dataverse",
    "emulator.webhooks",
    "emulator.fo",
)


def feature_modules() -> list[ModuleType]:
    modules = []
    for name in FEATURES:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside the feature
                raise
    return modules


async def _date_from_emulator_clock(request: web.Request, response: web.StreamResponse) -> None:
    """Responses carry the emulator's time, as a real server's ``Date`` carries its own:
    clients that take server time from ``Date`` (the triggers' signpost) must see the same
    clock as ``modifiedon``, also after a test advanced it."""
    response.headers["Date"] = format_date_time(request.app[STATE].clock.time())


def build_app(config: EmulatorConfig | None = None) -> web.Application:
    state = EmulatorState(config or EmulatorConfig())
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE] = state
    app.on_response_prepare.append(_date_from_emulator_clock)
    for module in feature_modules():
        module.setup(app, state)
    return app
