"""Properties of the epoch fence, and the throughput of the job pipeline."""

from __future__ import annotations

import time
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.store import JobOutcome, JobStatus, NewEvent, StaleEpoch, StepResult, StepStatus, Store

pytest_plugins = ["tests.store_support"]

# An operation: None bumps the epoch (a takeover); an int commits with current + offset.
operations = st.lists(st.none() | st.integers(min_value=-3, max_value=3), max_size=12)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=operations)
async def test_commits_with_stale_epochs_never_advance_the_cursor(
    store: Store, ops: list[int | None]
) -> None:
    recipe = f"prop-{uuid.uuid4().hex}"  # the store outlives examples; recipes do not
    expected_cursor, epoch, stored = None, 0, 0
    for step, offset in enumerate(ops):
        if offset is None:
            epoch = await store.bump_epoch(recipe)
            continue
        event, cursor = NewEvent(f"e{step}", step), {"step": step}
        try:
            await store.commit_poll(recipe, [event], cursor, epoch + offset)
        except StaleEpoch:
            assert offset != 0
        else:
            assert offset == 0
            expected_cursor, stored = cursor, stored + 1
        assert await store.load_cursor(recipe) == (expected_cursor, epoch)
    assert len(await store.list_jobs(recipe, limit=100)) == stored


async def test_job_pipeline_sustains_thousands_of_jobs_per_second(store: Store) -> None:
    total, batch = 5_000, 500
    events = [NewEvent(f"rec-{n}:1", {"n": n}) for n in range(total)]
    started_s = time.perf_counter()

    await store.commit_poll("bulk", events, {"page": 1}, 0)
    while jobs := await store.claim_jobs("w1", "bulk", limit=batch, claim_ttl_s=60):
        steps = [StepResult(j.id, "actions[0]", StepStatus.SUCCEEDED, output={}) for j in jobs]
        await store.record_steps(steps)
        await store.finish_jobs([JobOutcome(j.id, JobStatus.SUCCEEDED) for j in jobs])

    elapsed_s = time.perf_counter() - started_s
    assert (await store.count_jobs_by_status("bulk"))[JobStatus.SUCCEEDED] == total
    # Generous bound so a loaded CI box passes; the point is batches, not per-row trips.
    assert total / elapsed_s > 1_000, f"{total / elapsed_s:.0f} jobs/s"
