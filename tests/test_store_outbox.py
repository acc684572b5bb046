"""commit_poll: jobs and cursor in one transaction, fenced by the recipe's epoch."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from runner.store import JobStatus, NewEvent, StaleEpoch, Store, job_id_for
from tests.store_support import StoreTarget

pytest_plugins = ["tests.store_support"]


def events(*keys: str) -> list[NewEvent]:
    return [NewEvent(key=key, payload={"id": key}) for key in keys]


async def test_first_commit_stores_jobs_and_cursor(store: Store) -> None:
    result = await store.commit_poll("leads", events("a:1", "b:1"), {"since": "t1"}, 0)

    assert result.new_job_ids == (job_id_for("leads", "a:1"), job_id_for("leads", "b:1"))
    assert result.duplicates == 0
    assert await store.load_cursor("leads") == ({"since": "t1"}, 0)
    pending = await store.list_jobs("leads", JobStatus.PENDING)
    assert [(job.event_key, job.payload) for job in pending] == [
        ("b:1", {"id": "b:1"}),
        ("a:1", {"id": "a:1"}),
    ]


async def test_replayed_events_are_skipped_and_counted_as_duplicates(store: Store) -> None:
    await store.commit_poll("leads", events("a:1", "b:1"), {"page": 1}, 0)

    result = await store.commit_poll("leads", events("b:1", "c:1", "c:1"), {"page": 2}, 0)

    assert result.new_job_ids == (job_id_for("leads", "c:1"),)
    assert result.duplicates == 2
    assert (await store.count_jobs_by_status("leads"))[JobStatus.PENDING] == 3


async def test_same_event_key_in_two_recipes_makes_two_jobs(store: Store) -> None:
    await store.commit_poll("leads", events("a:1"), {}, 0)
    result = await store.commit_poll("contacts", events("a:1"), {}, 0)
    assert result.new_jobs == 1


async def test_forced_event_makes_a_second_job_for_a_known_key(store: Store) -> None:
    await store.commit_poll("leads", events("a:1"), {}, 0)

    forced = [NewEvent("a:1", {"again": True}, force=True)]
    result = await store.commit_poll("leads", forced, {}, 0)

    assert result.new_job_ids == (job_id_for("leads", "a:1", replay=1),)
    jobs = await store.list_jobs("leads")
    assert sorted(job.replay for job in jobs) == [0, 1]


async def test_stale_epoch_is_rejected_and_nothing_written(store: Store) -> None:
    await store.commit_poll("leads", events("a:1"), {"page": 1}, 0)
    assert await store.bump_epoch("leads") == 1  # another replica took the recipe over

    with pytest.raises(StaleEpoch):
        await store.commit_poll("leads", events("b:1"), {"page": 2}, 0)

    assert await store.load_cursor("leads") == ({"page": 1}, 1)
    assert [job.event_key for job in await store.list_jobs("leads")] == ["a:1"]


async def test_commit_for_unknown_recipe_with_nonzero_epoch_is_stale(store: Store) -> None:
    with pytest.raises(StaleEpoch):
        await store.commit_poll("leads", events("a:1"), {"page": 1}, 3)
    assert await store.load_cursor("leads") == (None, 0)
    assert await store.list_jobs() == []


async def test_new_owner_commits_with_the_bumped_epoch(store: Store) -> None:
    epoch = await store.bump_epoch("leads")

    await store.commit_poll("leads", events("a:1"), {"page": 1}, epoch)

    assert await store.load_cursor("leads") == ({"page": 1}, epoch)


async def _reject_poison_events(target: StoreTarget) -> None:
    """Make the database itself refuse a job whose event key is 'poison'."""
    engine = target.engine()
    if target.dialect == "sqlite":
        ddl = (
            "CREATE TRIGGER reject_poison BEFORE INSERT ON jobs WHEN NEW.event_key = 'poison' "
            "BEGIN SELECT RAISE(ABORT, 'poison event'); END"
        )
    else:
        ddl = "ALTER TABLE jobs ADD CONSTRAINT no_poison CHECK (event_key <> 'poison')"
    try:
        async with engine.begin() as conn:
            await conn.execute(text(ddl))
    finally:
        await engine.dispose()


async def test_failing_insert_leaves_cursor_and_jobs_untouched(
    store: Store, target: StoreTarget
) -> None:
    await store.commit_poll("leads", events("a:1"), {"page": 1}, 0)
    await _reject_poison_events(target)

    with pytest.raises(Exception, match="poison"):
        await store.commit_poll("leads", events("b:1", "poison", "c:1"), {"page": 2}, 0)

    assert await store.load_cursor("leads") == ({"page": 1}, 0)
    assert [job.event_key for job in await store.list_jobs("leads")] == ["a:1"]


async def test_five_thousand_events_commit_in_one_call(store: Store) -> None:
    keys = [f"rec-{n}:1" for n in range(5_000)]

    result = await store.commit_poll("bulk", events(*keys), {"page": 1}, 0)

    assert result.new_jobs == 5_000
    counts = await store.count_jobs_by_status("bulk")
    assert counts[JobStatus.PENDING] == 5_000
    again = await store.commit_poll("bulk", events(*keys), {"page": 1}, 0)
    assert (again.new_jobs, again.duplicates) == (0, 5_000)
