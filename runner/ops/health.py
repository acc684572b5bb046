"""``/healthz`` (the process is alive) and ``/readyz`` (it can do its work).

* ``/healthz``: 200 ``{"status": "ok"}`` while the event loop's heartbeat is fresh; 503
  ``{"status": "stalled"}`` when it is not. For liveness probes and the container
  ``HEALTHCHECK``: a stalled loop deserves a restart.
* ``/readyz``: 503 ``{"status": "not ready", "problems": [...]}`` when the state store does
  not answer, cannot write (a full or read-only disk: a write failed in the last 30 s, or a
  SQLite store's disk has under 1 MiB free), or no recipe is loaded. 200 ``{"status":
  "degraded", …}`` when something a loaded recipe needs is wrong (the other recipes and the
  webhooks still work, so the instance stays in service), with only the keys that apply:

  * ``invalid_connections`` and ``paused_recipes``: a connection needs a person (sign-in,
    new secret, consent); its recipes are paused;
  * ``unreachable_connections``: ``{name: why}`` when the last token request failed for now
    (identity provider unreachable, TLS not trusted, 5xx);
  * ``failing_recipes``: ``{name: last error}`` for recipes whose polls failed
    ``FAILING_AFTER_POLLS`` times in a row (e.g. a wrong table);
  * ``kept_last_good``: ``{name: first problem}`` for recipes running their last good
    version because an edit broke the file.

  Connections no loaded recipe uses are left out. Else 200 ``{"status": "ok"}``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from runner.engine.engine import connections_used
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
        body.update(invalid_connections=invalid, paused_recipes=paused)
    unreachable = unreachable_connections(ops)
    if unreachable:
        body["unreachable_connections"] = unreachable
    failing, kept = await recipe_problems(ops)
    if failing:
        body["failing_recipes"] = failing
    if kept:
        body["kept_last_good"] = kept
    if invalid or unreachable or failing or kept:
        body["status"] = "degraded"
    return web.json_response(ops.redactor.value(body))


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


def used_connections(ops: OpsContext) -> set[str]:
    """The connections the loaded recipes name (the others cannot degrade anything)."""
    return {name for running in ops.engine.recipes.values()
            for name in connections_used(running.recipe)}


def invalid_connections(ops: OpsContext) -> list[str]:
    """Names of the used connections that need a person (sign-in, new secret, consent …)."""
    if ops.tokens is None:
        return []
    used = used_connections(ops)
    return sorted(name for name, _, _ in ops.tokens.needing_a_person() if name in used)


def unreachable_connections(ops: OpsContext) -> dict[str, str]:
    """Used connection → why its last token request failed for now."""
    if ops.tokens is None:
        return {}
    used = used_connections(ops)
    return {name: why for name, why in sorted(ops.tokens.unreachable().items())
            if name in used}


async def recipe_problems(ops: OpsContext) -> tuple[dict[str, str], dict[str, str]]:
    """Loaded recipes whose polls keep failing (→ last poll error), and those running their
    last good version because the file now has problems (→ the first problem)."""
    failing, kept = {}, {}
    for name in sorted(ops.engine.recipes):
        state = await ops.engine.store.get_recipe_state(name)
        if state.failing:
            failing[name] = state.last_error or "polls fail"
        if state.file_problem:
            kept[name] = state.file_problem
    return failing, kept
