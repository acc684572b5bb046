"""Mounting the operations routes on the daemon's listener app.

``/healthz``, ``/readyz``, ``/metrics``, ``/`` and ``/jobs/<id>``; the bearer-token
middleware when a status token is set; the loop heartbeat and the state store timing run
while the app runs.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from aiohttp import web

from runner.engine.engine import Engine
from runner.ops.auth import token_middleware
from runner.ops.cluster import sample_cluster
from runner.ops.context import OPS, OpsContext
from runner.ops.health import healthz, readyz
from runner.ops.heartbeat import Heartbeat
from runner.ops.metrics import CONTENT_TYPE, METRICS, Metrics
from runner.ops.queue import queue_stats
from runner.ops.recipe_health import poll_lag_s
from runner.ops.status import job_detail, status_page
from runner.ops.store_timing import time_statements


def mount_ops(app: web.Application, engine: Engine, *, status_token: str | None = None,
              metrics: Metrics = METRICS, heartbeat: Heartbeat | None = None) -> None:
    """Add the operations routes to ``app`` (before it starts)."""
    app[OPS] = OpsContext(engine, heartbeat or Heartbeat(metrics=metrics), metrics)
    app.middlewares.append(token_middleware(status_token))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/", status_page)
    app.router.add_get("/jobs/{job_id}", job_detail)
    app.cleanup_ctx.append(_running)


async def _running(app: web.Application) -> AsyncIterator[None]:
    ops = app[OPS]
    ops.heartbeat.start()
    stop_timing = time_statements(ops.engine.store.engine, ops.metrics)
    yield
    stop_timing()
    await ops.heartbeat.stop()


async def metrics_page(request: web.Request) -> web.Response:
    ops = request.app[OPS]
    await sample_queues(ops)
    await sample_cluster(ops)
    return web.Response(body=ops.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})


async def sample_queues(ops: OpsContext) -> None:
    """Set queue depth, job lag and poll lag of every loaded recipe (two queries per
    scrape)."""
    try:
        stats = await queue_stats(ops.engine.store)
        states = await ops.engine.store.get_recipe_states(list(ops.engine.recipes))
    except Exception:  # the store is down: /readyz says so; keep the last samples
        return
    now_s = time.time()
    for name, running in ops.engine.recipes.items():
        ops.metrics.poll_interval.labels(name).set(running.recipe.trigger.poll_interval_s)
        late_s = poll_lag_s(running.recipe.trigger, states[name], now_s)
        if late_s is not None:
            ops.metrics.poll_lag.labels(name).set(late_s)
        queue = stats.get(name)
        ops.metrics.queue_depth.labels(name).set(queue.pending if queue else 0)
        ops.metrics.queue_lag.labels(name).set(queue.lag_s if queue else 0.0)
