"""The ingest and claim fast paths keep the outbox's promises on SQLite and PostgreSQL: job
ids stay uuid5, big pages land whole, duplicates are counted, backfills leave the cursor
alone, claims stay oldest-first however long the history, and busy workers claim in batches
without starving small recipes."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from connectors.base import Event
from runner.engine.poller import event_payload, prepared_events
from runner.engine.worker import refill_threshold
from runner.store import JobOutcome, JobStatus, NewEvent, Store, job_id_for
from runner.store.outbox import prepare_events
from tests.store_support import StoreTarget

pytest_plugins = ["tests.store_support"]

NAMESPACE = uuid.UUID("0b9e4c52-4f0a-4d8e-9a43-6f1f6d2f7c11")


@given(st.text(max_size=30), st.text(max_size=60), st.integers(0, 10_000))
def test_job_ids_are_exactly_uuid5_of_recipe_key_and_replay(
    recipe: str, key: str, replay: int
) -> None:
    expected = uuid.uuid5(NAMESPACE, f"{recipe}\x00{key}\x00{replay}")
    assert job_id_for(recipe, key, replay) == str(expected)


def test_busy_workers_refill_after_a_quarter_of_their_slots_and_small_ones_at_once() -> None:
    assert [refill_threshold(c) for c in (1, 2, 3, 4, 8, 64)] == [1, 1, 1, 1, 2, 16]


async def test_a_page_larger_than_one_statement_is_stored_whole_and_counted(
    store: Store,
) -> None:
    await store.commit_poll("big", [NewEvent(f"k{i}", {"i": i}) for i in range(0, 9000, 3)],
                            {"page": 1}, 0)
    events = [NewEvent(f"k{i}", {"i": i, "name": "Zoë ✓"}) for i in range(9000)]
    events.append(NewEvent("k1", {"again": True}))  # repeated within the page

    result = await store.commit_poll("big", prepare_events("big", events), {"page": 2}, 0)

    assert result.new_jobs == 6000 and result.duplicates == 3001
    assert result.new_job_ids[:2] == (job_id_for("big", "k1"), job_id_for("big", "k2"))
    assert (await store.count_jobs_by_status("big"))[JobStatus.PENDING] == 9000
    job = next(j for j in await store.list_jobs("big", limit=10_000) if j.event_key == "k8")
    assert job.payload == {"i": 8, "name": "Zoë ✓"}


async def test_store_events_dedupes_and_forces_without_moving_the_cursor(store: Store) -> None:
    await store.commit_poll("leads", [NewEvent("a:1", {})], {"live": True}, 0)

    plain = await store.store_events("leads", [NewEvent("a:1", {}), NewEvent("b:1", {})])
    forced = await store.store_events("leads", [NewEvent("a:1", {"x": 1}, force=True)] * 2)

    assert (plain.new_jobs, plain.duplicates) == (1, 1)
    assert forced.new_job_ids == (job_id_for("leads", "a:1", 1), job_id_for("leads", "a:1", 2))
    assert await store.load_cursor("leads") == ({"live": True}, 0)


async def test_claims_take_the_oldest_due_jobs_behind_a_long_finished_history(
    target: StoreTarget,
) -> None:
    store = await target.open()
    try:
        ids = list((await store.commit_poll(
            "r", [NewEvent(f"e{i}", {}) for i in range(300)], {}, 0)).new_job_ids)
        done = await store.claim_jobs("w1", "r", 250, claim_ttl_s=60)
        await store.finish_jobs([JobOutcome(j.id, JobStatus.SUCCEEDED) for j in done[:240]])
        target.clock.advance(120)  # the last ten claims of w1 expire

        claimed = await store.claim_jobs("w2", "r", 15, claim_ttl_s=60)

        assert [job.id for job in claimed] == ids[240:255]
        assert [job.attempts for job in claimed] == [2] * 10 + [1] * 5
    finally:
        await store.close()


async def test_the_pollers_events_are_stored_as_record_kind_and_key(store: Store) -> None:
    events = [Event("c1:7", {"contactid": "c1", "n": 1.5, "x": None}, "updated")]
    result = await store.commit_poll("r", prepared_events("r", events), {}, 0)
    [job] = await store.claim_jobs("w", "r", limit=1, claim_ttl_s=30)
    assert job.id == result.new_job_ids[0]
    assert job.payload == {"record": {"contactid": "c1", "n": 1.5, "x": None},
                           "kind": "updated", "key": "c1:7"} == event_payload(events[0])
