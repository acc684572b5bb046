"""Batch triggers (``batch_size`` > 1): events wait as members, fill jobs across pages and
polls, and a record that is a member of a batch is never batched again — not by a later
poll, not by a backfill. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import structlog

from connectors.base import Event
from runner.engine.engine import Engine
from runner.engine.poller import prepared_events
from runner.engine.worker import WorkerSettings
from runner.recipes import load_recipe
from runner.runtime import ConnectionPool
from runner.store import Batching, JobStatus, Store
from tests.engine_support import make_registry
from tests.store_support import StoreTarget

pytest_plugins = ["tests.store_support"]


def recipe_text(records: list[dict[str, Any]], *, size: int = 3, page_size: int = 2,
                wait: str = "0s") -> str:
    return f"""
name: batched
trigger:
  type: test.list
  records: {json.dumps(records)}
  page_size: {page_size}
  batch_size: {size}
  batch_wait: {wait}
actions:
  - type: log
    message: "{{{{ trigger.record.records | length }}}} records"
"""


async def engine_for(tmp_path: Path, store: Store, text: str) -> Engine:
    file = tmp_path / "batched.yaml"
    file.write_text(text)
    recipe, problems = load_recipe(file, make_registry(), {})
    assert recipe is not None, [str(p) for p in problems]
    engine = Engine(store, make_registry(), ConnectionPool(None), structlog.get_logger("t"),
                    WorkerSettings("w"))
    engine.add(recipe, start_worker=False)
    return engine


async def batches(store: Store) -> list[list[str]]:
    jobs = sorted(await store.list_jobs("batched"), key=lambda job: job.seq)
    return [job.payload["record"]["keys"] for job in jobs]


async def test_batches_fill_across_pages_and_carry_each_members_key_and_kind(
        tmp_path: Path, target: StoreTarget) -> None:
    records = [{"id": f"r{i}"} for i in range(7)]
    async with await target.open() as store:
        engine = await engine_for(tmp_path, store, recipe_text(records))
        summary = await engine.recipes["batched"].poller.poll_once()
        jobs = sorted(await store.list_jobs("batched"), key=lambda job: job.seq)
        await engine.stop(1)
    assert summary.events == 7 and summary.new_jobs == 3 and summary.pages == 4
    assert [job.payload["record"]["keys"] for job in jobs] == [
        ["r0:1", "r1:1", "r2:1"], ["r3:1", "r4:1", "r5:1"], ["r6:1"]]
    first = jobs[0].payload
    assert first["kind"] == "batch" and first["record"]["kinds"] == ["upsert"] * 3
    assert first["record"]["records"] == [{"id": "r0"}, {"id": "r1"}, {"id": "r2"}]


async def test_a_member_seen_again_in_another_grouping_makes_no_new_job(
        tmp_path: Path, target: StoreTarget) -> None:
    records = [{"id": f"o{i}"} for i in range(7)]
    async with await target.open() as store:
        engine = await engine_for(tmp_path, store, recipe_text(records))
        await engine.recipes["batched"].poller.poll_once()
        before = await batches(store)
        # A backfill or rewound cursor sees o4 beside a new record, grouped differently.
        again = [Event("o4:1", {"id": "o4"}), Event("o2:1", {"id": "o2"}),
                 Event("deal:1", {"id": "deal"})]
        stored = await store.store_events("batched", prepared_events(
            "batched", again, batching=Batching(3)))
        formed = await store.store_batches("batched", Batching(3), flush=True)
        await engine.stop(1)
        after = await batches(store)
    assert stored.duplicates == 2 and stored.waiting == 1 and formed.new_jobs == 1
    assert after == [*before, ["deal:1"]]


async def test_a_smaller_batch_waits_for_batch_wait_then_becomes_a_job(
        tmp_path: Path, target: StoreTarget) -> None:
    async with await target.open() as store:
        engine = await engine_for(tmp_path, store, recipe_text(
            [{"id": f"w{i}"} for i in range(5)], wait="10m"))
        poller = engine.recipes["batched"].poller
        first = await poller.poll_once()
        waiting = await batches(store)
        target.clock.advance(599)
        await poller.poll_once()
        still = await batches(store)
        target.clock.advance(2)
        await poller.poll_once()
        await engine.stop(1)
        done = await batches(store)
    assert first.new_jobs == 1 and waiting == [["w0:1", "w1:1", "w2:1"]] == still
    assert done == [["w0:1", "w1:1", "w2:1"], ["w3:1", "w4:1"]]


async def test_batch_jobs_run_and_show_their_records_to_templates(tmp_path: Path) -> None:
    async with await Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        engine = await engine_for(tmp_path, store, recipe_text([{"id": f"j{i}"}
                                                               for i in range(4)]))
        with structlog.testing.capture_logs() as logs:
            await engine.burst()
        await engine.stop(1)
        counts = await store.count_jobs_by_status("batched")
    assert counts[JobStatus.SUCCEEDED] == 2 and sum(counts.values()) == 2
    assert sorted(e["message"] for e in logs if e["event"] == "recipe.log") == \
        ["1 records", "3 records"]
