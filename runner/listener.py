"""The daemon's HTTP listener: inbound webhooks (``/hooks/<recipe>``) and the operations
routes of :mod:`runner.ops` (``/healthz``, ``/readyz``, ``/metrics``, the status page ``/``).

A webhook is answered ``202`` only after its job is committed to the state store, so an
acknowledged delivery is never lost; anything else gets a JSON error a sender can read:
``4xx`` for what the request got wrong (an unknown webhook and a wrong credential get the
same ``401``, so names cannot be probed), ``503`` with ``Retry-After`` when the state store
cannot take the job (a full or read-only disk, a database down). No answer is ever a
traceback. What one client can hold is bounded: connections and request heads by
:mod:`runner.listener_guard`, bodies here (size, read time, JSON nesting).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from connectors.http.webhook import Accepted, WebhookParams, WebhookRejected, check_request
from runner.engine.engine import Engine
from runner.listener_guard import ConnectionGuard, ListenerLimits
from runner.ops.routes import mount_ops
from runner.ops.security import add_security_headers, allowed_hosts, security_middleware
from runner.redact import MASK
from runner.store import NewEvent

ENGINE: web.AppKey[Engine] = web.AppKey("engine", Engine)
LIMITS: web.AppKey[ListenerLimits] = web.AppKey("limits", ListenerLimits)
MAX_BODY_BYTES = ListenerLimits.max_body_bytes
STORE_RETRY_AFTER_S = 30
NOT_ACCEPTED = "not accepted: no such webhook, or missing or wrong credentials"
log = structlog.get_logger("recipe-runner")


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


# -- reading a request safely ---------------------------------------------------------------


async def _read_body(request: web.Request, limits: ListenerLimits) -> bytes:
    try:
        async with asyncio.timeout(limits.body_timeout_s):
            return await request.read()
    except TimeoutError:
        raise _Refused(408, f"body not received within {limits.body_timeout_s:g}s") from None


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (iteratively: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _payload(request: web.Request, body: bytes, limits: ListenerLimits) -> Any:
    if request.content_type != "application/json":
        return body.decode("utf-8", errors="replace")
    try:
        data = json.loads(body or b"null")
    except (ValueError, RecursionError):
        raise _Refused(400, "body is not JSON (or nests too deeply)") from None
    if json_depth(data) > limits.max_json_depth:
        raise _Refused(400, f"JSON nests deeper than {limits.max_json_depth} levels")
    return data


def _stored_record(request: web.Request, payload: Any, accepted: Accepted) -> dict[str, Any]:
    """What the job keeps of the request: the secret's header and query parameter masked."""
    headers = {k: MASK if k.lower() in accepted.secret_headers else v
               for k, v in request.headers.items()}
    query = {k: MASK if k in accepted.secret_query else v for k, v in request.query.items()}
    return {"body": payload, "headers": headers, "query": query}


# -- the webhook route -----------------------------------------------------------------------


async def hook(request: web.Request) -> web.Response:
    engine, limits = request.app[ENGINE], request.app[LIMITS]
    name = request.match_info["recipe"]
    running = engine.recipes.get(name)
    body = await _read_body(request, limits)
    if running is None or running.recipe.trigger.type != "http.webhook":
        log.info("webhook.rejected", recipe=name, reason="no webhook recipe of that name")
        return _error(401, NOT_ACCEPTED)
    params = running.poller.params
    assert isinstance(params, WebhookParams)
    try:
        accepted = check_request(params, request.headers, request.query, body, time.time())
    except WebhookRejected as exc:
        log.info("webhook.rejected", recipe=name, reason=str(exc))
        return _error(exc.status, NOT_ACCEPTED if exc.status == 401 else str(exc))
    if accepted.secret:
        engine.services.redactor.add([accepted.secret])
    record = engine.services.redactor.value(
        _stored_record(request, _payload(request, body, limits), accepted))
    key = accepted.replay_key or request.headers.get("Idempotency-Key") or uuid.uuid4().hex
    event = NewEvent(f"webhook:{key}", {"record": record, "kind": "received", "key": key})
    cursor, epoch = await engine.store.load_cursor(name)
    result = await engine.store.commit_poll(name, [event], cursor or {}, epoch)
    running.worker.wake()
    if not result.new_job_ids:
        return web.json_response({"duplicate": True, "idempotency_key": key}, status=200)
    return web.json_response({"job": result.new_job_ids[0]}, status=202)


async def dataverse_hook(request: web.Request) -> web.Response:
    """A Dataverse webhook delivery for a table feed (``/dataverse/<feed token>``): checked
    against the feed's WebhookKey (``?code=``) in constant time, its events stored as the
    members' jobs, and only then answered 200. A redelivery finds its jobs stored."""
    engine, limits = request.app[ENGINE], request.app[LIMITS]
    feed = engine.feed_by_token(request.match_info["feed"])
    body = await _read_body(request, limits)
    code = request.query.get("code", "")
    if feed is None or feed.push_key is None or not hmac.compare_digest(
            code.encode("utf-8", "replace"), feed.push_key.encode()):
        log.info("feed.push_rejected", reason="no such feed, or a wrong code")
        return _error(401, NOT_ACCEPTED)
    payload = _payload(request, body, limits)
    if not isinstance(payload, dict):
        raise _Refused(400, "a Dataverse execution context is a JSON object")
    stored = await feed.deliver(payload)
    return web.json_response({"stored": stored}, status=200)


# -- errors: always JSON, never a traceback -------------------------------------------------


def _store_trouble(exc: BaseException) -> bool:
    """The state store cannot take a write (disk full or read-only, database down)."""
    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(exc, SQLAlchemyError | OSError)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except _Refused as exc:
        return _error(exc.status, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        answer = _error(exc.status, exc.text or exc.reason)
        for header in ("Allow", "Retry-After"):
            if header in exc.headers:
                answer.headers[header] = exc.headers[header]
        return answer
    except Exception as exc:
        if _store_trouble(exc):
            log.error("listener.store_unavailable", path=request.path,
                      error=f"{exc.__class__.__name__}: {str(exc)[:300]}")
            return _error(503, "the state store cannot take this request now; retry later",
                          **{"Retry-After": str(STORE_RETRY_AFTER_S)})
        log.error("listener.error", path=request.path,
                  error=f"{exc.__class__.__name__}: {str(exc)[:300]}")
        return _error(500, "internal error (logged as listener.error)")


def build_listener_app(engine: Engine, status_token: str | None = None,
                       limits: ListenerLimits | None = None,
                       bind_host: str = "127.0.0.1") -> web.Application:
    limits = limits or ListenerLimits()
    app = web.Application(client_max_size=limits.max_body_bytes,
                          middlewares=[json_errors, security_middleware(allowed_hosts(bind_host))])
    app[ENGINE] = engine
    app[LIMITS] = limits
    app.on_response_prepare.append(add_security_headers)
    app.router.add_post("/hooks/{recipe}", hook)
    app.router.add_post("/dataverse/{feed}", dataverse_hook)
    mount_ops(app, engine, status_token=status_token)
    return app


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """The listener's https context from PEM files (``RECIPE_RUNNER_TLS_CERT``/``_KEY``);
    None for plain http. ``OSError``/``ssl.SSLError`` name what is wrong with the files."""
    if not cert and not key:
        return None
    if not (cert and key):
        raise ValueError("give both RECIPE_RUNNER_TLS_CERT and RECIPE_RUNNER_TLS_KEY")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def parse_listen(value: str) -> tuple[str, int] | None:
    """``host:port`` → (host, port); ``off`` → None."""
    if value.strip().lower() in ("", "off", "none", "false"):
        return None
    host, _, port = value.rpartition(":")
    return (host or "127.0.0.1").strip("[]"), int(port)


@asynccontextmanager
async def listening(engine: Engine, host: str, port: int, *,
                    status_token: str | None = None,
                    limits: ListenerLimits | None = None,
                    tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """Serve until the block ends; yields the bound port (``port=0`` picks one).
    ``status_token``: required by the status page and ``/metrics`` (see ``runner.ops.auth``);
    ``tls``: serve https (Dataverse posts webhooks over https only)."""
    limits = limits or ListenerLimits()
    app = build_listener_app(engine, status_token, limits, host)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    assert runner.server is not None
    guard = ConnectionGuard(limits)
    server = await asyncio.get_running_loop().create_server(
        guard.factory(runner.server), host, port, ssl=tls)
    bound = int(server.sockets[0].getsockname()[1])
    try:
        yield bound
    finally:
        server.close()
        await runner.cleanup()
