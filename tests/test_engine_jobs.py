"""The engine end to end in burst mode: trigger pages become durable jobs, steps run in
order against a real local HTTP endpoint, results and failures are recorded."""

from __future__ import annotations

import json
from pathlib import Path

from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from runner.store import JobStatus, StepStatus, Store
from tests.engine_support import Endpoint, build_engine


def recipe(endpoint: Endpoint, records: list[dict[str, object]], extra: str = "",
           page_size: int = 7) -> str:
    return f"""
name: relay
concurrency: 4
trigger:
  type: test.list
  records: {json.dumps(records)}
  page_size: {page_size}
actions:
  - id: post
    type: http.request
    method: POST
    url: {endpoint.url}
    json: {{id: "{{{{ trigger.record.id }}}}", n: "{{{{ trigger.record.n }}}}"}}
    retry: {{attempts: 3, delay: 0.01s}}
{extra}
  - id: note
    type: log
    message: "posted {{{{ trigger.record.id }}}} as {{{{ steps.post.json.n }}}}"
"""


async def test_every_record_becomes_one_job_whose_steps_run(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    records = [{"id": f"r{i}", "n": i} for i in range(50)]
    engine = await build_engine(tmp_path, recipe(endpoint, records))
    summary = await engine.burst()
    await engine.stop(5)
    assert summary.polls["relay"].new_jobs == 50 and summary.polls["relay"].pages == 8
    assert sorted(r["json"]["id"] for r in endpoint.received) == sorted(r["id"] for r in records)
    assert {r["json"]["n"] for r in endpoint.received} == set(range(50))  # native ints
    counts = await engine.store.count_jobs_by_status("relay")
    assert counts.get(JobStatus.SUCCEEDED) == 50
    await engine.store.close()


async def test_polling_again_makes_no_duplicate_jobs(tmp_path: Path, endpoint: Endpoint) -> None:
    records = [{"id": f"r{i}", "n": i} for i in range(5)]
    engine = await build_engine(tmp_path, recipe(endpoint, records))
    await engine.burst()
    await engine.store.commit_poll("relay", [], {"offset": 0}, 0)  # rewind the cursor
    second = await engine.burst()
    await engine.stop(5)
    assert second.polls["relay"].duplicates == 5 and second.polls["relay"].new_jobs == 0
    assert len(endpoint.received) == 5
    await engine.store.close()


async def test_transient_failure_is_retried_and_logged(tmp_path: Path, endpoint: Endpoint) -> None:
    endpoint.statuses = [503, 503]
    engine = await build_engine(tmp_path, recipe(endpoint, [{"id": "a", "n": 1}]))
    with capture_logs(processors=[merge_contextvars]) as logs:
        await engine.burst()
    await engine.stop(5)
    retries = [e for e in logs if e["event"] == "job.step.retry"]
    assert [e["attempt"] for e in retries] == [1, 2]
    finished = [e for e in logs if e["event"] == "job.finished"]
    assert finished[0]["outcome"] == "succeeded" and finished[0]["recipe"] == "relay"
    assert len(endpoint.received) == 3
    await engine.store.close()


async def test_exhausted_retries_fail_the_job_with_the_step_error(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    endpoint.statuses = [503, 503, 503]
    engine = await build_engine(tmp_path, recipe(endpoint, [{"id": "a", "n": 1}]))
    await engine.burst()
    await engine.stop(5)
    (job,) = await engine.store.list_jobs(recipe="relay")
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.startswith("actions[0]: http.request failed")
    detail = await engine.store.get_job(job.id)
    assert detail is not None
    assert [(s.path, s.status) for s in detail.steps] == [("actions[0]", StepStatus.FAILED)]
    await engine.store.close()


async def test_on_error_continue_runs_the_next_step(tmp_path: Path, endpoint: Endpoint) -> None:
    endpoint.statuses = [400]
    text = recipe(endpoint, [{"id": "a", "n": 1}]).replace(
        "retry: {attempts: 3, delay: 0.01s}", "on_error: continue")
    text = text.replace("as {{ steps.post.json.n }}", "error {{ steps.post.error[:20] }}")
    engine = await build_engine(tmp_path, text)
    await engine.burst()
    await engine.stop(5)
    (job,) = await engine.store.list_jobs(recipe="relay")
    assert job.status is JobStatus.SUCCEEDED
    detail = await engine.store.get_job(job.id)
    assert detail is not None
    statuses = {s.path: s.status for s in detail.steps}
    assert statuses == {"actions[0]": StepStatus.FAILED, "actions[1]": StepStatus.SUCCEEDED}
    await engine.store.close()


async def test_resumed_job_does_not_repeat_completed_steps(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    """A crash after step 1 was recorded: on resume only step 2 runs."""
    store = await Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    engine = await build_engine(tmp_path, recipe(endpoint, [{"id": "a", "n": 1}]), store=store)
    await engine.recipes["relay"].poller.poll_once()
    (job,) = await store.claim_jobs("crashed-worker", "relay", 1, claim_ttl_s=30)
    await store.record_step(job.id, "actions[0]", StepStatus.SUCCEEDED,
                            output={"status": 200, "json": {"n": 41}})
    await store.release_claims("crashed-worker")
    with capture_logs(processors=[merge_contextvars]) as logs:
        await engine.recipes["relay"].worker.run_until_idle()
    await engine.stop(5)
    assert endpoint.received == []  # the HTTP step was not sent again
    notes = [e for e in logs if e["event"] == "recipe.log"]
    assert notes[0]["message"] == "posted a as 41"  # the stored output fed the template
    await store.close()
