"""Versioned migrations: idempotent, concurrent-safe, and upgrades keep the data."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from runner.store import (
    LATEST_VERSION,
    JobStatus,
    NewEvent,
    StepStatus,
    Store,
    applied_versions,
    job_id_for,
    migrate,
    normalize_url,
)
from runner.store.schema import cursors, job_steps, jobs, metadata
from tests.store_support import StoreTarget

pytest_plugins = ["tests.store_support"]


async def test_open_applies_every_migration_once(target: StoreTarget) -> None:
    store = await target.open()
    await store.close()
    store = await target.open()
    try:
        assert await applied_versions(store.engine) == list(range(1, LATEST_VERSION + 1))
        assert await migrate(store.engine) == []
    finally:
        await store.close()


async def test_concurrent_starts_migrate_once_and_all_succeed(target: StoreTarget) -> None:
    engines = [target.engine() for _ in range(4)]
    try:
        applied = await asyncio.gather(*(migrate(engine) for engine in engines))
        assert sorted(v for versions in applied for v in versions) == list(
            range(1, LATEST_VERSION + 1)
        )
        assert await applied_versions(engines[0]) == list(range(1, LATEST_VERSION + 1))
    finally:
        for engine in engines:
            await engine.dispose()


async def test_upgrade_from_version_1_keeps_cursors_and_jobs(target: StoreTarget) -> None:
    engine = target.engine()
    try:
        assert await migrate(engine, up_to=1) == [1]
        async with engine.begin() as conn:
            await conn.execute(
                cursors.insert().values(recipe="leads", state='{"page":7}', epoch=2, updated_at=1)
            )
            await conn.execute(jobs.insert().values(**_v1_job_row()))
    finally:
        await engine.dispose()

    store = await target.open()
    try:
        assert await applied_versions(store.engine) == list(range(1, LATEST_VERSION + 1))
        assert await store.load_cursor("leads") == ({"page": 7}, 2)
        [job] = await store.claim_jobs("w1", "leads", limit=5, claim_ttl_s=30)
        assert (job.id, job.payload) == (job_id_for("leads", "r1:1"), {"id": "r1"})
        assert await store.save_token_cache("crm", b"sealed", 0) == 1  # a version-2 table
    finally:
        await store.close()


async def test_upgrade_from_version_3_keeps_jobs_steps_and_dedupe(target: StoreTarget) -> None:
    engine = target.engine()
    try:
        assert await migrate(engine, up_to=3) == [1, 2, 3]
        async with engine.begin() as conn:
            await conn.execute(jobs.insert().values(**_v1_job_row()))
            await conn.execute(job_steps.insert().values(
                job_id=job_id_for("leads", "r1:1"), path="actions[0]",
                status=StepStatus.SUCCEEDED.value, output='{"id":"t1"}', started_at=1.0))
    finally:
        await engine.dispose()

    store = await target.open()
    try:
        assert await applied_versions(store.engine) == list(range(1, LATEST_VERSION + 1))
        job_id = job_id_for("leads", "r1:1")
        assert await store.completed_steps(job_id) == {"actions[0]": {"id": "t1"}}
        again = await store.commit_poll("leads", [NewEvent("r1:1", {}), NewEvent("r2:1", {})],
                                        {"page": 2}, 0)
        assert (again.new_job_ids, again.duplicates) == ((job_id_for("leads", "r2:1"),), 1)
        forced = await store.store_events("leads", [NewEvent("r1:1", {}, force=True)])
        assert forced.new_job_ids == (job_id_for("leads", "r1:1", 1),)
        async with store.engine.connect() as conn:  # the steps' foreign key still holds
            await conn.execute(jobs.delete().where(jobs.c.id == job_id))
            assert (await conn.execute(job_steps.select())).first() is None
            await conn.rollback()
    finally:
        await store.close()


async def test_upgrade_to_version_9_counts_polls_that_went_well_as_good(
        target: StoreTarget) -> None:
    engine = target.engine()
    try:
        assert await migrate(engine, up_to=8) == list(range(1, 9))
        async with engine.begin() as conn:
            for recipe, error in [("fine", None), ("broken", "503")]:
                await conn.exec_driver_sql(
                    "INSERT INTO recipe_states (recipe, last_poll_at, last_error, updated_at) "
                    f"VALUES ('{recipe}', 100.0, {'NULL' if error is None else repr(error)}, "
                    "100.0)")
    finally:
        await engine.dispose()

    store = await target.open()
    try:
        states = await store.get_recipe_states(["fine", "broken", "new"])
        assert [states[name].last_good_poll_at for name in ("fine", "broken", "new")] == [
            100.0, None, None]
    finally:
        await store.close()


def _v1_job_row() -> dict[str, object]:
    return {
        "id": job_id_for("leads", "r1:1"),
        "recipe": "leads",
        "event_key": "r1:1",
        "status": JobStatus.PENDING.value,
        "payload": '{"id":"r1"}',
        "created_at": 1.0,
        "updated_at": 1.0,
        "next_run_at": 1.0,
    }


async def test_migrated_database_matches_the_declared_schema(store: Store) -> None:
    async with store.engine.connect() as conn:
        actual = await conn.run_sync(_columns_by_table)
    declared = {name: {c.name for c in table.columns} for name, table in metadata.tables.items()}
    assert actual == declared


def _columns_by_table(conn: Connection) -> dict[str, set[str]]:
    inspector = inspect(conn)
    return {
        name: {column["name"] for column in inspector.get_columns(name)}
        for name in inspector.get_table_names()
    }


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///state.db", "sqlite+aiosqlite:///state.db"),
        ("sqlite+aiosqlite:////var/x.db", "sqlite+aiosqlite:////var/x.db"),
        ("/var/lib/rr/state.db", "sqlite+aiosqlite:////var/lib/rr/state.db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_store_urls_are_normalised_to_async_drivers(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize("url", ["mysql://h/db", "sqlite://", "sqlite:///:memory:"])
def test_unsupported_store_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        normalize_url(url)


async def test_open_creates_the_folder_of_a_new_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'nested' / 'recipe-runner.db'}"
    async with await Store.open(url) as store:
        assert await store.load_cursor("r") == (None, 0)
    assert (tmp_path / "state" / "nested" / "recipe-runner.db").exists()


async def test_version_5_drops_the_status_led_indexes_and_keeps_the_claim_index(
    target: StoreTarget,
) -> None:
    engine = target.engine()
    try:
        await migrate(engine, up_to=4)
        async with engine.connect() as conn:
            before = await conn.run_sync(_job_indexes)
        await migrate(engine)
        async with engine.connect() as conn:
            after = await conn.run_sync(_job_indexes)
    finally:
        await engine.dispose()
    assert {"ix_jobs_status_seq", "ix_jobs_status_claim_expires"} <= before
    assert "ix_jobs_recipe_status_seq" in after
    assert not after & {"ix_jobs_status_seq", "ix_jobs_status_claim_expires"}


def _job_indexes(conn: Connection) -> set[str]:
    return {index["name"] for index in inspect(conn).get_indexes("jobs")}
