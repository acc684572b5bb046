"""The step identity reaches the receiver: every POST of an ``http.request`` step carries an
``Idempotency-Key`` that is the same on each retry and re-run of that step of that job and
different for every other step and job, so a receiver can drop repeats."""

from __future__ import annotations

from pathlib import Path

from runner.store import JobStatus
from tests.engine_support import Endpoint, build_engine


def recipe(endpoint: Endpoint, ids: list[str], extra: str = "") -> str:
    return f"""
name: keyed
concurrency: 1
trigger:
  type: test.list
  records: {[{"id": i} for i in ids]}
actions:
  - id: first
    type: http.request
    method: POST
    url: {endpoint.url}
    json: {{id: "{{{{ trigger.record.id }}}}"}}
    retry: {{attempts: 3, delay: 0.01s}}
{extra}
  - id: second
    type: http.request
    method: POST
    url: {endpoint.url}/second
    json: {{id: "{{{{ trigger.record.id }}}}"}}
"""


async def test_a_retried_step_sends_one_key_and_every_step_and_job_its_own(
        tmp_path: Path, endpoint: Endpoint) -> None:
    endpoint.statuses = [503]  # the first POST of job "a" is answered 503, then retried
    engine = await build_engine(tmp_path, recipe(endpoint, ["a", "b"]))
    await engine.burst()
    await engine.stop(5)
    keys = [(r["json"]["id"], r["path"], r["key"]) for r in endpoint.received]
    assert [k[:2] for k in keys] == [("a", "/hook"), ("a", "/hook"), ("a", "/hook/second"),
                                     ("b", "/hook"), ("b", "/hook/second")]
    assert keys[0][2] == keys[1][2]  # the retry repeats the key
    assert len({k[2] for k in keys[1:]}) == 4 and all(k[2] for k in keys)
    await engine.store.close()


async def test_an_operator_retry_of_a_failed_job_sends_the_same_key_again(
        tmp_path: Path, endpoint: Endpoint) -> None:
    endpoint.statuses = [200, 400]  # the second step fails for good the first time
    engine = await build_engine(tmp_path, recipe(endpoint, ["a"]))
    await engine.burst()
    (job,) = await engine.store.list_jobs(recipe="keyed")
    assert job.status is JobStatus.FAILED
    assert await engine.store.retry_failed(job_id=job.id) == 1
    await engine.recipes["keyed"].worker.run_until_idle()
    await engine.stop(5)
    second = [r["key"] for r in endpoint.received if r["path"] == "/hook/second"]
    assert len(second) == 2 and second[0] == second[1]
    assert [r["path"] for r in endpoint.received].count("/hook") == 1  # step 1 not re-run
    await engine.store.close()


async def test_the_header_can_be_renamed_or_turned_off(tmp_path: Path,
                                                       endpoint: Endpoint) -> None:
    text = recipe(endpoint, ["a"], extra="    idempotency_header: X-Request-Id").replace(
        "url: " + endpoint.url + "/second", "url: " + endpoint.url + "/second\n"
        "    idempotency_header: null")
    engine = await build_engine(tmp_path, text)
    await engine.burst()
    await engine.stop(5)
    first, second = endpoint.received
    assert first["key"] is None and first["request_id"]
    assert second["key"] is None and second["request_id"] is None
    await engine.store.close()
