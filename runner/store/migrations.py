"""Versioned schema migrations, applied at start and recorded in ``schema_migrations``.

Each migration runs in the same transaction as its record, so a crash leaves the
database at the previous version. Applying is idempotent and safe when several processes
start at once: PostgreSQL serialises them with a transaction-level advisory lock, SQLite
with its write lock (``BEGIN IMMEDIATE``, see ``engine.py``).

Rules for adding a migration: append to ``MIGRATIONS``, never edit an applied one; only
ever add or alter, never drop data the daemon still needs. A migration that changes a
table created by an earlier one must first freeze the old definition in that earlier
migration, so a database created at version 1 is still built as version 1 was.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Index, MetaData, Table, UniqueConstraint, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from runner.store.schema import (
    batch_members,
    connection_states,
    cursors,
    job_steps,
    jobs,
    leases,
    recipe_states,
    record_digests,
    replicas,
    schema_migrations,
    token_caches,
)

# pg_advisory_xact_lock key: the first 8 bytes of sha256("recipe-runner.migrations").
ADVISORY_LOCK_KEY = 0x38FA_4665_8427_9FE4


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _create(*tables: Table) -> Callable[[Connection], None]:
    def apply(conn: Connection) -> None:
        for table in tables:
            table.create(conn)

    return apply


# Indexes on jobs that migration 5 dropped.
_STATUS_INDEXES = (("ix_jobs_status_seq", ("status", "seq")),
                   ("ix_jobs_status_claim_expires", ("status", "claim_expires_at")))


def _jobs_v4() -> Table:
    """``jobs`` as migration 4 left it: today's table plus the two status indexes."""
    table = jobs.to_metadata(MetaData())
    for name, columns in _STATUS_INDEXES:
        Index(name, *(table.c[column] for column in columns))
    return table


def _jobs_v1() -> Table:
    """``jobs`` as migrations 1–3 made it: version 4's table plus the unique event key."""
    table = _jobs_v4()
    table.append_constraint(
        UniqueConstraint("recipe", "event_key", "replay", name="uq_jobs_recipe_event"))
    return table


MIGRATION_7_COLUMNS = ("failed_polls", "file_problem", "backfill_request", "backfill_result")
MIGRATION_9_COLUMNS = ("last_good_poll_at",)


def _recipe_states_v2() -> Table:
    """``recipe_states`` as migrations 2–5 made it: without the columns of migrations 7
    and 9."""
    table = Table("recipe_states", MetaData())
    for column in recipe_states.columns:
        if column.name not in (*MIGRATION_7_COLUMNS, *MIGRATION_9_COLUMNS):
            table.append_column(column._copy())
    return table


def _add_recipe_health(conn: Connection) -> None:
    """Failed polls in a row and a kept version's file problem, so that the daemon's log,
    the status page, ``/readyz`` and ``recipes list`` tell one story; and backfill requests
    an operator hands to the daemon (which has the connections' secrets)."""
    conn.exec_driver_sql(
        "ALTER TABLE recipe_states ADD COLUMN failed_polls INTEGER NOT NULL DEFAULT 0")
    for column in MIGRATION_7_COLUMNS[1:]:
        conn.exec_driver_sql(f"ALTER TABLE recipe_states ADD COLUMN {column} TEXT")


def _add_last_good_poll(conn: Connection) -> None:
    """When each recipe last polled without an error, so that its poll lag is honest while
    its polls fail; a recipe that polled fine so far starts from its last poll."""
    conn.exec_driver_sql("ALTER TABLE recipe_states ADD COLUMN last_good_poll_at DOUBLE PRECISION")
    conn.exec_driver_sql(
        "UPDATE recipe_states SET last_good_poll_at = last_poll_at WHERE last_error IS NULL")


def _drop_status_indexes(conn: Connection) -> None:
    """Claims always name their recipe and use ``(recipe, status, seq)``; the two indexes
    led by ``status`` served only operator listings across recipes, yet every job insert
    and every status change had to update them (ingest and job completion ran about 5%
    faster without them in bench/engine_throughput.py)."""
    for name, _ in _STATUS_INDEXES:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")


def _drop_event_key_unique(conn: Connection) -> None:
    """Drop ``uq_jobs_recipe_event``: the unique job id (uuid5 of the same three values)
    dedupes alone. SQLite cannot drop a table constraint, so there both tables are rebuilt
    under their names and refilled: renaming ``jobs`` away points ``job_steps``' foreign
    key at the old copy, so ``job_steps`` is rebuilt after it to point at the new one, and
    the old copies are dropped child first (dropping a parent with children would cascade)."""
    if conn.dialect.name != "sqlite":
        conn.execute(text("ALTER TABLE jobs DROP CONSTRAINT uq_jobs_recipe_event"))
        return
    for table in (_jobs_v4(), job_steps):
        conn.exec_driver_sql(f"ALTER TABLE {table.name} RENAME TO {table.name}_v3")
        for index in table.indexes:
            conn.exec_driver_sql(f"DROP INDEX {index.name}")
        table.create(conn)
        names = ", ".join(column.name for column in table.columns)
        conn.exec_driver_sql(
            f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {table.name}_v3")
    conn.exec_driver_sql("DROP TABLE job_steps_v3")
    conn.exec_driver_sql("DROP TABLE jobs_v3")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "outbox: cursors, jobs, job steps", _create(cursors, _jobs_v1(), job_steps)),
    Migration(
        2,
        "token caches, connection and recipe states",
        _create(token_caches, connection_states, _recipe_states_v2()),
    ),
    Migration(3, "replicas and recipe leases", _create(replicas, leases)),
    Migration(4, "jobs deduplicated by their id alone", _drop_event_key_unique),
    Migration(5, "no status-led indexes on jobs", _drop_status_indexes),
    Migration(6, "batch members, deduplicated per record", _create(batch_members)),
    Migration(7, "failed polls, kept-version problems and backfill requests per recipe",
              _add_recipe_health),
    Migration(8, "the last watched values per record (changed_columns)",
              _create(record_digests)),
    Migration(9, "the last poll without an error per recipe (honest poll lag)",
              _add_last_good_poll),
)

LATEST_VERSION = MIGRATIONS[-1].version


async def migrate(engine: AsyncEngine, *, up_to: int = LATEST_VERSION) -> list[int]:
    """Bring the database to version ``up_to``; returns the versions this call applied."""
    async with engine.begin() as conn:
        return await conn.run_sync(_migrate, up_to)


async def applied_versions(engine: AsyncEngine) -> list[int]:
    """The versions recorded in ``schema_migrations`` (empty for a new database)."""
    async with engine.begin() as conn:
        return await conn.run_sync(_applied)


def _migrate(conn: Connection, up_to: int) -> list[int]:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    schema_migrations.create(conn, checkfirst=True)
    done = set(_applied(conn))
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version > up_to or migration.version in done:
            continue
        migration.apply(conn)
        conn.execute(
            schema_migrations.insert().values(
                version=migration.version, name=migration.name, applied_at=time.time()
            )
        )
        applied.append(migration.version)
    return applied


def _applied(conn: Connection) -> list[int]:
    if not conn.dialect.has_table(conn, schema_migrations.name):
        return []
    rows = conn.execute(select(schema_migrations.c.version).order_by(schema_migrations.c.version))
    return list(rows.scalars())
