"""A webhook sink under ``/_emulator/webhooks/{name}``: recipes in the demo and in tests
post here, and anyone can read back what arrived.

* ``POST /_emulator/webhooks/{name}``: keep the JSON (or text) body (the last
  ``EmulatorConfig.webhook_keep_last`` of each sink); answers 200.
* ``GET /_emulator/webhooks/{name}``: ``{"received": [...], "idempotency_keys": [...]}``,
  oldest first; each post's ``Idempotency-Key`` header (null without one) beside its body,
  so a test can tell a repeat that a receiver could drop from a second effect.
* ``DELETE /_emulator/webhooks/{name}``: forget them.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from typing import Any

from aiohttp import web

from emulator.state import STATE, EmulatorState

EXTENSION = "webhooks"
routes = web.RouteTableDef()


def _sink(request: web.Request) -> deque[Any]:
    sinks: dict[str, deque[Any]] = request.app[STATE].extensions[EXTENSION]
    return sinks[request.match_info["name"]]


@routes.post("/_emulator/webhooks/{name}")
async def receive(request: web.Request) -> web.Response:
    text = await request.text()
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = text
    sink = _sink(request)
    sink.append((body, request.headers.get("Idempotency-Key")))
    return web.json_response({"received": len(sink)})


@routes.get("/_emulator/webhooks/{name}")
async def list_received(request: web.Request) -> web.Response:
    posts = list(_sink(request))
    return web.json_response({"received": [body for body, _ in posts],
                              "idempotency_keys": [key for _, key in posts]})


@routes.delete("/_emulator/webhooks/{name}")
async def clear(request: web.Request) -> web.Response:
    _sink(request).clear()
    return web.json_response({"received": 0})


def setup(app: web.Application, state: EmulatorState) -> None:
    keep = state.config.webhook_keep_last
    state.extensions[EXTENSION] = defaultdict(lambda: deque(maxlen=keep))
    app.add_routes(routes)
