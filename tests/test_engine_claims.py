"""A job that runs longer than its claim keeps the claim: a second worker never starts it
while the first is still running it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from runner.store import JobStatus, Store
from tests.engine_support import build_engine

RECIPE = """
name: slow
trigger:
  type: test.list
  records: [{{id: a}}]
actions:
  - type: http.request
    method: POST
    url: {url}
    timeout_s: 10
"""


@pytest.fixture
async def slow_endpoint() -> AsyncIterator[tuple[str, list[str]]]:
    calls: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        calls.append(request.path)
        await asyncio.sleep(2.0)  # several claim lifetimes
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/slow", handle)
    async with TestServer(app) as server:
        yield str(server.make_url("/slow")), calls


async def test_long_running_job_keeps_its_claim(
    tmp_path: Path, slow_endpoint: tuple[str, list[str]]
) -> None:
    url, calls = slow_endpoint
    text = RECIPE.format(url=url)
    store = await Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    first = await build_engine(tmp_path, text, store=store, worker_id="one", claim_ttl_s=0.6)
    second = await build_engine(tmp_path, text, name="same.yaml", store=store,
                                worker_id="two", claim_ttl_s=0.6)
    await first.recipes["slow"].poller.poll_once()
    running = asyncio.create_task(first.recipes["slow"].worker.run_until_idle())
    for _ in range(8):  # the other worker keeps looking while the slow step runs
        await asyncio.sleep(0.25)
        await second.recipes["slow"].worker.run_until_idle()
    assert await running == 1
    (job,) = await store.list_jobs(recipe="slow")
    assert calls == ["/slow"] and job.status is JobStatus.SUCCEEDED and job.attempts == 1
    await first.stop(1)
    await second.stop(1)
    await store.close()
