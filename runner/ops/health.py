"""``/healthz`` (the process is alive) and ``/readyz`` (it can do its work).

* ``/healthz``: 200 ``{"status": "ok"}`` while the event loop's heartbeat is fresh; 503
  ``{"status": "stalled"}`` when it is not. For liveness probes and the container
  ``HEALTHCHECK``: a stalled loop deserves a restart.
* ``/readyz``: 503 ``{"status": "not ready", "problems": [...]}`` when the state store does
  not answer, cannot write (a full or read-only disk: a write failed in the last 30 s, or a
  SQLite store's disk has under 1 MiB free), or no recipe is loaded; 200 ``{"status":
  "degraded", "invalid_connections": [...], "paused_recipes": [...]}`` when a connection
  needs a person (the other recipes and the webhooks still work, so the instance stays in
  service); else 200 ``"ok"``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from runner.ops.context import OPS, OpsContext
from runner.ops.queue import store_reachable
from runner.store import ConnectionStatus
from runner.store.engine import write_trouble

NEEDS_A_PERSON = (ConnectionStatus.INVALID, ConnectionStatus.NEVER_SIGNED_IN)


async def healthz(request: web.Request) -> web.Response:
    heartbeat = request.app[OPS].heartbeat
    body = {"status": "ok" if heartbeat.alive else "stalled",
            "heartbeat_age_s": round(heartbeat.age_s, 3)}
    return web.json_response(body, status=200 if heartbeat.alive else 503)


async def readyz(request: web.Request) -> web.Response:
    ops = request.app[OPS]
    problems = await _blocking_problems(ops)
    if problems:
        return web.json_response({"status": "not ready", "problems": problems}, status=503)
    body: dict[str, Any] = {"status": "ok", "recipes": len(ops.engine.recipes)}
    invalid = invalid_connections(ops)
    if invalid:
        paused = sorted(n for n, r in ops.engine.recipes.items() if r.poller.paused_reason)
        body.update(status="degraded", invalid_connections=invalid, paused_recipes=paused)
    return web.json_response(body)


async def _blocking_problems(ops: OpsContext) -> list[str]:
    problems = []
    unreachable = await store_reachable(ops.engine.store)
    if unreachable:
        problems.append(unreachable)
    trouble = write_trouble(ops.engine.store.engine)
    if trouble:
        problems.append(trouble)
    if not ops.engine.recipes:
        problems.append("no recipe loaded")
    return problems


def invalid_connections(ops: OpsContext) -> list[str]:
    """Names of the connections that need a person (sign-in, new secret, consent …)."""
    if ops.tokens is None:
        return []
    return sorted(name for name in ops.tokens.names
                  if ops.tokens.tokens(name).status in NEEDS_A_PERSON)
