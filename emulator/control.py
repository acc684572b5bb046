"""The control plane under ``/_emulator/``: the test's hands on the emulator.

Routes here never collide with Microsoft paths. Feature modules add their own control
routes (identity: apps, users, revocation; dataverse: rows with explicit timestamps).

``setup`` also installs the cross-cutting traffic features, each with its middleware and its
own control routes, outermost first: request log (``/_emulator/requests``), faults
(``/_emulator/faults``), latency (``/_emulator/latency``) and service protection
(``/_emulator/protection``). "emulator.control" is first in ``FEATURES``, so these wrap every
route other features add; none of them touches ``/_emulator/`` requests.
"""

from __future__ import annotations

from aiohttp import web

from emulator import control_index, faults, latency, protection, requestlog
from emulator.state import STATE, EmulatorState

routes = web.RouteTableDef()


@routes.get("/_emulator/health")
async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response({"status": "ok", "base_url": state.base_url})


@routes.get("/_emulator/clock")
async def get_clock(request: web.Request) -> web.Response:
    clock = request.app[STATE].clock
    return web.json_response({"now": clock.now().isoformat(), "offset_s": clock.offset_s})


@routes.post("/_emulator/clock/advance")
async def advance_clock(request: web.Request) -> web.Response:
    body = await request.json()
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if not isinstance(seconds, int | float) or seconds < 0:
        message = "body must be {\"seconds\": <non-negative number>}"
        return web.json_response({"error": message}, status=400)
    clock = request.app[STATE].clock
    clock.advance(float(seconds))
    return web.json_response({"now": clock.now().isoformat(), "offset_s": clock.offset_s})


# aiohttp runs middlewares in list order, the first one outermost.
TRAFFIC_FEATURES = (requestlog, faults, latency, protection)


def setup(app: web.Application, state: EmulatorState) -> None:
    control_index.setup(app)
    app.add_routes(routes)
    for feature in TRAFFIC_FEATURES:
        feature.setup(app, state)
