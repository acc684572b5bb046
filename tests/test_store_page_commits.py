"""A poll's pages committed back to back: in order, never past a failed page, and other
writers of the process get their turn between pages."""

from __future__ import annotations

import asyncio

import pytest

from runner.store import JobStatus, NewEvent, StaleEpoch, Store
from runner.store.outbox import prepare_events
from runner.store.page_commits import PageNotCommitted

pytest_plugins = ["tests.store_support"]


def page(recipe: str, number: int, size: int = 50):
    return prepare_events(recipe, [NewEvent(f"p{number}-{i}", {"i": i}) for i in range(size)])


async def pending_keys(store: Store, recipe: str) -> set[str]:
    jobs = await store.list_jobs(recipe=recipe, status=JobStatus.PENDING, limit=10_000)
    return {job.event_key for job in jobs}


async def test_queued_pages_land_in_order_and_the_cursor_ends_at_the_last(store: Store) -> None:
    async with store.page_commits("r", 0) as commits:
        futures = [await commits.submit(page("r", n), {"page": n}) for n in range(6)]
    results = [future.result() for future in futures]

    assert [len(result.new_job_ids) for result in results] == [50] * 6
    assert await store.load_cursor("r") == ({"page": 5}, 0)
    assert len(await pending_keys(store, "r")) == 300


async def test_no_page_after_a_failed_one_is_applied(store: Store) -> None:
    async with store.page_commits("r", 0) as commits:
        first = await commits.submit(page("r", 0), {"page": 0})
        broken = await commits.submit(page("other-recipe", 1), {"page": 1})  # raises inside
        after = await commits.submit(page("r", 2), {"page": 2})
    assert len(first.result().new_job_ids) == 50
    with pytest.raises(ValueError, match="prepared for"):
        broken.result()
    with pytest.raises(PageNotCommitted):
        after.result()
    assert await store.load_cursor("r") == ({"page": 0}, 0)  # not past the failed page
    assert await pending_keys(store, "r") == {f"p0-{i}" for i in range(50)}


async def test_a_taken_over_recipe_stores_nothing_more(store: Store) -> None:
    async with store.page_commits("r", 0) as commits:
        await (await commits.submit(page("r", 0), {"page": 0}))  # landed
        await (await commits.submit(page("r", 1), {"page": 1}))
        await store.bump_epoch("r")  # another replica takes the recipe over
        stale = await commits.submit(page("r", 2), {"page": 2})
        later = await commits.submit(page("r", 3), {"page": 3})
    with pytest.raises(StaleEpoch):
        stale.result()
    with pytest.raises((StaleEpoch, PageNotCommitted)):
        later.result()
    assert await store.load_cursor("r") == ({"page": 1}, 1)


async def test_another_writer_gets_in_between_pages(store: Store) -> None:
    finished: list[str] = []
    async with store.page_commits("r", 0) as commits:
        for n in range(2):
            future = await commits.submit(page("r", n, size=2000), {"page": n})
            future.add_done_callback(lambda _f, n=n: finished.append(f"page {n}"))
        other = asyncio.create_task(store.record_poll_outcome("elsewhere", None))
        other.add_done_callback(lambda _t: finished.append("other writer"))
        await asyncio.sleep(0)  # the other writer is now waiting for the lock
        last = await commits.submit(page("r", 2, size=2000), {"page": 2})
        last.add_done_callback(lambda _f: finished.append("page 2"))
    await other
    assert finished.index("other writer") < finished.index("page 2")
    assert finished.index("page 1") < finished.index("page 2")
