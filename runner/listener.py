"""The daemon's HTTP listener: inbound webhooks (``/hooks/<recipe>``) and the operations
routes of :mod:`runner.ops` (``/healthz``, ``/readyz``, ``/metrics``, the status page ``/``).

A webhook is answered ``202`` only after its job is committed to the state store, so an
acknowledged delivery is never lost; anything else gets a JSON error a sender can read.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from connectors.http.webhook import WebhookParams, WebhookRejected, check_request
from runner.engine.engine import Engine
from runner.ops.routes import mount_ops
from runner.redact import Redactor
from runner.store import NewEvent

ENGINE: web.AppKey[Engine] = web.AppKey("engine", Engine)
MAX_BODY_BYTES = 1024 * 1024
_HIDDEN_HEADERS = Redactor()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _payload(request: web.Request, body: bytes) -> Any:
    if request.content_type == "application/json":
        try:
            return json.loads(body or b"null")
        except ValueError as exc:
            raise web.HTTPBadRequest(text=json.dumps({"error": "body is not JSON"}),
                                     content_type="application/json") from exc
    return body.decode("utf-8", errors="replace")


async def hook(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    name = request.match_info["recipe"]
    running = engine.recipes.get(name)
    if running is None or running.recipe.trigger.type != "http.webhook":
        return _error(404, f"no webhook recipe named {name!r}")
    body = await request.read()
    params = running.poller.params
    assert isinstance(params, WebhookParams)
    try:
        check_request(params, request.headers, body)
    except WebhookRejected as exc:
        return _error(401, str(exc))
    key = request.headers.get("Idempotency-Key") or uuid.uuid4().hex
    record = {
        "body": _payload(request, body),
        "headers": _HIDDEN_HEADERS.value(dict(request.headers)),
        "query": dict(request.query),
    }
    event = NewEvent(f"webhook:{key}", {"record": record, "kind": "received", "key": key})
    cursor, epoch = await engine.store.load_cursor(name)
    result = await engine.store.commit_poll(name, [event], cursor or {}, epoch)
    running.worker.wake()
    if not result.new_job_ids:
        return web.json_response({"duplicate": True, "idempotency_key": key}, status=200)
    return web.json_response({"job": result.new_job_ids[0]}, status=202)


def build_listener_app(engine: Engine, status_token: str | None = None) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[ENGINE] = engine
    app.router.add_post("/hooks/{recipe}", hook)
    mount_ops(app, engine, status_token=status_token)
    return app


def parse_listen(value: str) -> tuple[str, int] | None:
    """``host:port`` → (host, port); ``off`` → None."""
    if value.strip().lower() in ("", "off", "none", "false"):
        return None
    host, _, port = value.rpartition(":")
    return (host or "127.0.0.1").strip("[]"), int(port)


@asynccontextmanager
async def listening(engine: Engine, host: str, port: int, *,
                    status_token: str | None = None) -> AsyncIterator[int]:
    """Serve until the block ends; yields the bound port (``port=0`` picks one).
    ``status_token``: required by the status page and ``/metrics`` (see ``runner.ops.auth``)."""
    app = build_listener_app(engine, status_token)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = port
    for address in runner.addresses:
        if isinstance(address, tuple):
            bound = int(address[1])
    try:
        yield bound
    finally:
        await runner.cleanup()
