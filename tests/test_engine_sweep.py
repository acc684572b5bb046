"""Idle workers cost nothing and still miss nothing: a worker waits for a wake-up — new jobs
from its poll, the due time of a job it deferred, or the engine's one sweep over every recipe
(a job retried from the command line) — instead of asking the store every second."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import structlog

from runner.engine.engine import Engine
from runner.engine.worker import WorkerSettings
from runner.recipes import load_recipe
from runner.runtime import ConnectionPool
from runner.store import JobStatus, Store
from tests.engine_support import Endpoint, make_registry

RECIPE = """
name: swept
trigger: {{type: test.list, records: [{{id: a}}]}}
actions:
  - type: http.request
    method: POST
    url: {url}
    json: {{id: "{{{{ trigger.record.id }}}}"}}
    retry: {{attempts: 1}}
"""


async def until(check: object, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_job_retried_from_outside_is_found_by_the_sweep_not_a_per_recipe_timer(
        tmp_path: Path, endpoint: Endpoint) -> None:
    (tmp_path / "swept.yaml").write_text(RECIPE.format(url=endpoint.url))
    recipe, _ = load_recipe(tmp_path / "swept.yaml", make_registry(), {})
    assert recipe is not None
    store = await Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    claims = 0
    original = store.claim_jobs

    async def counted(*args: object, **kwargs: object) -> object:
        nonlocal claims
        claims += 1
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    store.claim_jobs = counted  # type: ignore[method-assign]
    engine = Engine(store, make_registry(), ConnectionPool(None), structlog.get_logger("t"),
                    WorkerSettings("w", sweep_s=0.1))
    endpoint.statuses = [400]  # the first run fails for good
    running = engine.add(recipe)
    sweep = asyncio.create_task(engine.sweep())
    try:
        await running.poller.poll_once()

        async def failed() -> bool:
            return (await store.count_jobs_by_status("swept"))[JobStatus.FAILED] == 1
        await until(failed)
        idle_claims = claims
        await asyncio.sleep(1.0)  # idle: no claim at all
        assert claims == idle_claims
        assert await store.retry_failed(recipe="swept") == 1  # as `jobs retry` would

        async def succeeded() -> bool:
            return (await store.count_jobs_by_status("swept"))[JobStatus.SUCCEEDED] == 1
        await until(succeeded)
    finally:
        sweep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweep
        await engine.stop(1)
        await store.close()
    assert len(endpoint.received) == 2
