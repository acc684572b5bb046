"""Side-effect-free steps (``log``) skip the commit before them, yet every step with side
effects still runs only after all earlier results are committed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from runner.engine.engine import Engine
from runner.store import JobStatus
from tests.engine_support import build_engine

RECIPE = """
name: ordered
concurrency: 4
trigger:
  type: test.list
  records: [{{id: a}}, {{id: b}}, {{id: c}}]
actions:
  - type: log
    message: "one {{{{ trigger.record.id }}}}"
  - type: log
    message: two
  - type: http.request
    method: POST
    url: {url}
    json: {{job: "{{{{ job.id }}}}"}}
  - type: log
    message: three
  - type: http.request
    method: POST
    url: {url}
    json: {{job: "{{{{ job.id }}}}"}}
"""


class Witness:
    """An HTTP endpoint that, on each call, reads which of the job's steps are committed."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.seen: list[list[str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        assert self.engine is not None
        job_id = (await request.json())["job"]
        self.seen.append(sorted(await self.engine.store.completed_steps(job_id)))
        return web.json_response({"ok": True})


@pytest.fixture
async def witness_url() -> AsyncIterator[tuple[Witness, str]]:
    witness = Witness()
    app = web.Application()
    app.router.add_post("/{tail:.*}", witness.handle)
    async with TestServer(app) as server:
        yield witness, str(server.make_url("/hook"))


async def test_steps_with_side_effects_see_every_earlier_result_committed(
    tmp_path: Path, witness_url: tuple[Witness, str]
) -> None:
    witness, url = witness_url
    with capture_logs():
        engine = await build_engine(tmp_path, RECIPE.format(url=url))
        witness.engine = engine
        try:
            summary = await engine.burst()
            counts = await engine.store.count_jobs_by_status("ordered")
        finally:
            await engine.stop(5)
            await engine.store.close()

    assert summary.jobs_run == 3 and counts[JobStatus.SUCCEEDED] == 3
    before_first = ["actions[0]", "actions[1]"]
    before_second = ["actions[0]", "actions[1]", "actions[2]", "actions[3]"]
    assert sorted(witness.seen) == [before_first] * 3 + [before_second] * 3
