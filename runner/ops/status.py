"""The read-only status page: ``/`` (recipes, connections, recent jobs) and ``/jobs/<id>``
(one job with its steps). Server-rendered with Jinja2, autoescaped, no JavaScript; the
values come from :mod:`runner.ops.views`, already redacted."""

from __future__ import annotations

import time
from typing import Any

import jinja2
from aiohttp import web

from runner.ops.cluster import cluster_section
from runner.ops.context import OPS
from runner.ops.views import connection_rows, iso, job_page, recent_jobs, recipe_rows

REFRESH_S = 30  # the page reloads itself (a meta tag: no script)
NO_STORE = {"Cache-Control": "no-store"}

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("runner.ops", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, **values: Any) -> web.Response:
    now_s = time.time()
    html = _templates.get_template(template).render(generated=iso(now_s), **values)
    return web.Response(text=html, content_type="text/html", headers=NO_STORE)


async def status_page(request: web.Request) -> web.Response:
    ops = request.app[OPS]
    now_s = time.time()
    return render("status.html.j2", refresh_s=REFRESH_S,
                  recipes=await recipe_rows(ops, now_s),
                  connections=await connection_rows(ops, now_s),
                  jobs=await recent_jobs(ops),
                  cluster=await cluster_section(ops))


async def job_detail(request: web.Request) -> web.Response:
    ops = request.app[OPS]
    detail = await ops.engine.store.get_job(request.match_info["job_id"])
    if detail is None:
        raise web.HTTPNotFound(text="no such job")
    return render("job.html.j2", refresh_s=None, **job_page(detail, ops))
