"""Claiming, resuming after a crash, retries and fencing of jobs."""

from __future__ import annotations

import asyncio

import pytest

from runner.store import (
    ClaimLost,
    JobOutcome,
    JobStatus,
    NewEvent,
    StepResult,
    StepStatus,
    Store,
)
from tests.store_support import StoreTarget

pytest_plugins = ["tests.store_support"]


async def seed(store: Store, recipe: str, count: int) -> list[str]:
    new = [NewEvent(f"{recipe}-{n}:1", {"n": n}) for n in range(count)]
    return list((await store.commit_poll(recipe, new, {"n": count}, 0)).new_job_ids)


async def test_claim_returns_oldest_pending_jobs_of_the_recipe_in_created_order(
    store: Store,
) -> None:
    ids = await seed(store, "leads", 5)
    await seed(store, "contacts", 2)

    claimed = await store.claim_jobs("w1", "leads", limit=3, claim_ttl_s=30)

    assert [job.id for job in claimed] == ids[:3]
    assert {(job.status, job.claimed_by, job.attempts) for job in claimed} == {
        (JobStatus.RUNNING, "w1", 1)
    }
    rest = await store.claim_jobs("w2", "leads", limit=10, claim_ttl_s=30)
    assert [job.id for job in rest] == ids[3:]


async def test_claim_without_recipe_takes_jobs_of_every_recipe(store: Store) -> None:
    await seed(store, "leads", 2)
    await seed(store, "contacts", 2)
    claimed = await store.claim_jobs("w1", None, limit=10, claim_ttl_s=30)
    assert sorted(job.recipe for job in claimed) == ["contacts", "contacts", "leads", "leads"]


async def test_crashed_job_is_reclaimed_after_its_claim_expires_and_resumes_after_done_steps(
    target: StoreTarget,
) -> None:
    first = await target.open()
    [job_id] = await seed(first, "leads", 1)
    [job] = await first.claim_jobs("w1", "leads", limit=1, claim_ttl_s=30)
    await first.record_step(job_id, "actions[0]", StepStatus.SUCCEEDED, {"q": 1}, {"id": "x"})
    await first.record_step(job_id, "actions[1]", StepStatus.RUNNING, {"q": 2})
    await first.close()  # the process dies here

    second = await target.open()
    try:
        assert await second.claim_jobs("w2", None, limit=5, claim_ttl_s=30) == []
        target.clock.advance(31)
        [again] = await second.claim_jobs("w2", None, limit=5, claim_ttl_s=30)
        assert (again.id, again.claimed_by, again.attempts) == (job.id, "w2", 2)
        assert await second.completed_steps(job_id) == {"actions[0]": {"id": "x"}}
    finally:
        await second.close()


async def test_late_finish_by_the_previous_claim_holder_raises_claim_lost(
    store: Store, target: StoreTarget
) -> None:
    [job_id] = await seed(store, "leads", 1)
    await store.claim_jobs("w1", None, limit=1, claim_ttl_s=30)
    target.clock.advance(31)
    await store.claim_jobs("w2", None, limit=1, claim_ttl_s=30)

    with pytest.raises(ClaimLost):
        await store.finish_job(job_id, JobStatus.SUCCEEDED, worker_id="w1")

    await store.finish_job(job_id, JobStatus.SUCCEEDED, worker_id="w2")
    detail = await store.get_job(job_id)
    assert detail is not None
    assert (detail.job.status, detail.job.claimed_by) == (JobStatus.SUCCEEDED, None)


async def test_extended_claim_is_not_taken_by_another_worker(
    store: Store, target: StoreTarget
) -> None:
    [job_id] = await seed(store, "leads", 1)
    await store.claim_jobs("w1", None, limit=1, claim_ttl_s=30)
    target.clock.advance(20)
    await store.extend_claim(job_id, "w1", claim_ttl_s=30)
    target.clock.advance(20)

    assert await store.claim_jobs("w2", None, limit=1, claim_ttl_s=30) == []
    with pytest.raises(ClaimLost):
        await store.extend_claim(job_id, "w2", claim_ttl_s=30)


async def test_retry_later_hides_the_job_until_its_delay_passes(
    store: Store, target: StoreTarget
) -> None:
    [job_id] = await seed(store, "leads", 1)
    await store.claim_jobs("w1", None, limit=1, claim_ttl_s=30)

    await store.retry_job_later(job_id, delay_s=60, error="429 throttled", worker_id="w1")

    assert await store.claim_jobs("w1", None, limit=1, claim_ttl_s=30) == []
    target.clock.advance(60)
    [job] = await store.claim_jobs("w1", None, limit=1, claim_ttl_s=30)
    assert (job.id, job.attempts, job.error) == (job_id, 2, "429 throttled")


async def test_retry_failed_makes_failed_jobs_pending_and_keeps_their_steps(store: Store) -> None:
    ids = await seed(store, "leads", 3)
    await store.claim_jobs("w1", None, limit=3, claim_ttl_s=30)
    await store.record_step(ids[0], "actions[0]", StepStatus.SUCCEEDED, output={"ok": 1})
    await store.finish_jobs(
        [
            JobOutcome(ids[0], JobStatus.FAILED, "boom"),
            JobOutcome(ids[1], JobStatus.FAILED, "boom"),
            JobOutcome(ids[2], JobStatus.SUCCEEDED),
        ]
    )

    assert await store.retry_failed("leads") == 2

    counts = await store.count_jobs_by_status("leads")
    assert (counts[JobStatus.PENDING], counts[JobStatus.SUCCEEDED]) == (2, 1)
    assert await store.completed_steps(ids[0]) == {"actions[0]": {"ok": 1}}


async def test_get_job_returns_its_steps_in_order_with_input_output_and_error(
    store: Store, target: StoreTarget
) -> None:
    [job_id] = await seed(store, "leads", 1)
    await store.record_step(job_id, "actions[0]", StepStatus.SUCCEEDED, {"a": 1}, {"b": 2})
    target.clock.advance(1)
    await store.record_step(job_id, "actions[1]", StepStatus.RUNNING, {"c": 3})
    await store.record_step(job_id, "actions[1]", StepStatus.FAILED, {"c": 3}, None, "400", 2)

    detail = await store.get_job(job_id)

    assert detail is not None
    assert [(s.path, s.status, s.input, s.output, s.error, s.attempts) for s in detail.steps] == [
        ("actions[0]", StepStatus.SUCCEEDED, {"a": 1}, {"b": 2}, None, 1),
        ("actions[1]", StepStatus.FAILED, {"c": 3}, None, "400", 2),
    ]
    assert detail.steps[1].started_at == target.clock.now_s
    assert await store.get_job("no-such-job") is None


async def test_finishing_with_a_non_final_status_is_refused(store: Store) -> None:
    [job_id] = await seed(store, "leads", 1)
    with pytest.raises(ValueError, match="not a final status"):
        await store.finish_job(job_id, JobStatus.PENDING)


async def test_two_concurrent_claimers_never_get_the_same_job(target: StoreTarget) -> None:
    first, second = await target.open(), await target.open()
    try:
        await seed(first, "leads", 200)

        async def drain(store: Store, worker: str) -> list[str]:
            taken: list[str] = []
            while batch := await store.claim_jobs(worker, "leads", limit=7, claim_ttl_s=60):
                taken += [job.id for job in batch]
            return taken

        got = await asyncio.gather(
            drain(first, "a"), drain(second, "b"), drain(first, "c"), drain(second, "d")
        )
    finally:
        await first.close()
        await second.close()

    every = [job_id for taken in got for job_id in taken]
    assert len(every) == len(set(every)) == 200


async def test_batch_of_steps_and_outcomes_finishes_in_one_call(store: Store) -> None:
    ids = await seed(store, "leads", 3)
    await store.claim_jobs("w1", None, limit=3, claim_ttl_s=30)

    await store.record_steps([StepResult(i, "actions[0]", StepStatus.SUCCEEDED) for i in ids])
    await store.finish_steps_and_job(
        [StepResult(ids[0], "actions[1]", StepStatus.SUCCEEDED, output=[1])],
        JobOutcome(ids[0], JobStatus.SUCCEEDED, worker_id="w1"),
    )
    await store.finish_jobs([JobOutcome(i, JobStatus.SUCCEEDED, worker_id="w1") for i in ids[1:]])

    assert (await store.count_jobs_by_status())[JobStatus.SUCCEEDED] == 3
    assert await store.completed_steps(ids[0]) == {"actions[0]": None, "actions[1]": [1]}
