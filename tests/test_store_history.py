"""Operator queries and pruning of finished jobs."""

from __future__ import annotations

from runner.store import JobOutcome, JobStatus, NewEvent, StepStatus, Store
from tests.store_support import StoreTarget

pytest_plugins = ["tests.store_support"]

DAY_S = 86_400.0


async def seed(store: Store, recipe: str, count: int) -> list[str]:
    new = [NewEvent(f"{recipe}-{n}:1", {"n": n}) for n in range(count)]
    return list((await store.commit_poll(recipe, new, {}, 0)).new_job_ids)


async def finish(store: Store, ids: list[str], status: JobStatus) -> None:
    await store.claim_jobs("w", None, limit=len(ids), claim_ttl_s=60)
    await store.finish_jobs([JobOutcome(job_id, status) for job_id in ids])


async def test_list_jobs_filters_by_recipe_and_status_newest_first(store: Store) -> None:
    leads = await seed(store, "leads", 3)
    await seed(store, "contacts", 1)
    await finish(store, leads[:1], JobStatus.FAILED)

    assert [j.id for j in await store.list_jobs("leads")] == leads[::-1]
    assert [j.id for j in await store.list_jobs(status=JobStatus.FAILED)] == leads[:1]
    assert len(await store.list_jobs(limit=2)) == 2


async def test_count_jobs_by_status_lists_every_status(store: Store) -> None:
    ids = await seed(store, "leads", 3)
    await finish(store, ids[:1], JobStatus.SUCCEEDED)

    counts = await store.count_jobs_by_status("leads")

    assert counts == {
        JobStatus.PENDING: 2,
        JobStatus.RUNNING: 0,
        JobStatus.SUCCEEDED: 1,
        JobStatus.FAILED: 0,
        JobStatus.CANCELLED: 0,
    }


async def test_prune_removes_old_finished_jobs_beyond_the_last_n_with_their_steps(
    store: Store, target: StoreTarget
) -> None:
    old = await seed(store, "leads", 4)
    await store.record_step(old[0], "actions[0]", StepStatus.SUCCEEDED)
    await finish(store, old, JobStatus.SUCCEEDED)
    target.clock.advance(2 * DAY_S)
    recent = await seed(store, "contacts", 1)
    await finish(store, recent, JobStatus.FAILED)

    pruned = await store.prune_history(keep_last_n=1, older_than_s=DAY_S)

    assert pruned == 3
    kept = {job.id for job in await store.list_jobs()}
    assert kept == {old[-1], recent[0]}
    assert await store.completed_steps(old[0]) == {}


async def test_prune_never_removes_pending_or_running_jobs(
    store: Store, target: StoreTarget
) -> None:
    await seed(store, "leads", 3)
    await store.claim_jobs("w", None, limit=1, claim_ttl_s=60)
    target.clock.advance(30 * DAY_S)

    assert await store.prune_history(keep_last_n=0, older_than_s=0) == 0

    counts = await store.count_jobs_by_status("leads")
    assert (counts[JobStatus.RUNNING], counts[JobStatus.PENDING]) == (1, 2)
