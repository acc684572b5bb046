"""A worker that lost a job's claim (paused past the claim's expiry while a step ran, and
another worker took the job) stores nothing more and runs no further step of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from runner.store import JobStatus
from tests.engine_support import build_engine
from tests.store_support import StoreTarget

pytest_plugins = ["tests.store_support"]


class GatedEndpoint:
    """Records posts; the first one is answered only once ``gate`` is set."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.first_arrived = asyncio.Event()
        self.gate = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        if len(self.paths) == 1:
            self.first_arrived.set()
            await self.gate.wait()
        return web.json_response({"n": len(self.paths)})


@pytest.fixture
async def gated() -> AsyncIterator[GatedEndpoint]:
    endpoint = GatedEndpoint()
    app = web.Application()
    app.router.add_post("/{tail:.*}", endpoint.handle)
    async with TestServer(app) as server:
        endpoint.url = str(server.make_url(""))
        yield endpoint


RECIPE = """
name: fenced
trigger:
  type: test.list
  records: [{{id: a}}]
actions:
  - id: first
    type: http.request
    method: POST
    url: {url}/first
  - id: second
    type: http.request
    method: POST
    url: {url}/second
"""


async def test_a_worker_that_lost_the_claim_runs_no_further_step(
    tmp_path: Path, target: StoreTarget, gated: GatedEndpoint
) -> None:
    store = await target.open()
    engine = await build_engine(tmp_path, RECIPE.format(url=gated.url), store=store,
                                worker_id="w1", claim_ttl_s=30)
    try:
        running = engine.recipes["fenced"]
        await running.poller.poll_once()
        with capture_logs() as logs:
            work = asyncio.create_task(running.worker.run_until_idle())
            await asyncio.wait_for(gated.first_arrived.wait(), 10)
            target.clock.advance(60)  # w1 is "paused" past its claim; w2 takes the job
            [taken] = await store.claim_jobs("w2", "fenced", limit=1, claim_ttl_s=30)
            gated.gate.set()  # w1 wakes up: its first step's answer arrives
            await asyncio.wait_for(work, 10)

        assert gated.paths == ["/first"]  # w1 did not go on to the second step
        assert any(e["event"] == "job.abandoned" for e in logs)
        [job] = await store.list_jobs("fenced")
        assert (job.id, job.status, job.claimed_by) == (taken.id, JobStatus.RUNNING, "w2")
        assert await store.completed_steps(job.id) == {}  # w1's result was not stored
    finally:
        await engine.stop(grace_s=1)
        await store.close()
