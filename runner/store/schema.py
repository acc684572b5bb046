"""The state store's tables (SQLAlchemy Core), as of the latest migration.

Conventions: ``*_at`` columns hold UNIX seconds (double precision, UTC) so that both
SQLite and PostgreSQL compare them cheaply and alike; JSON travels as text and is opaque
to the database. ``migrations.py`` creates these tables; if you change one, add a
migration (and freeze the old definition inside the earlier migration first).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

# On SQLite only ``INTEGER PRIMARY KEY`` is the autoincrementing rowid.
_SEQ = BigInteger().with_variant(Integer, "sqlite")

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("applied_at", Double, nullable=False),
)

cursors = Table(
    "cursors",
    metadata,
    Column("recipe", Text, primary_key=True),
    Column("state", Text),  # the trigger's cursor as JSON; NULL until the first commit
    Column("epoch", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", Double, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    # seq orders jobs by creation (timestamps tie within a poll page).
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("id", Text, nullable=False, unique=True),
    Column("recipe", Text, nullable=False),
    Column("event_key", Text, nullable=False),
    Column("replay", Integer, nullable=False, server_default="0"),
    Column("status", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("next_run_at", Double, nullable=False),
    Column("claimed_by", Text),
    Column("claim_expires_at", Double),
    Column("error", Text),
    Column("finished_at", Double),
    # No UNIQUE (recipe, event_key, replay): the id is uuid5 of exactly those, so the
    # unique id already dedupes, and a second index on random keys halved ingest speed
    # (migration 4 dropped it).
    Index("ix_jobs_recipe_status_seq", "recipe", "status", "seq"),
)

job_steps = Table(
    "job_steps",
    metadata,
    Column("job_id", Text, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("path", Text, nullable=False),  # e.g. actions[2].for_each[3].actions[0]
    Column("status", Text, nullable=False),
    Column("input", Text),
    Column("output", Text),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("started_at", Double, nullable=False),
    Column("finished_at", Double),
    PrimaryKeyConstraint("job_id", "path", name="pk_job_steps"),
)

# Members of batch jobs (triggers with batch_size > 1): each event waits here until it
# fills a job with others; one row per (recipe, event key) dedupes members for good.
batch_members = Table(
    "batch_members",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("recipe", Text, nullable=False),
    Column("event_key", Text, nullable=False),
    Column("payload", Text, nullable=False),  # the event as a job payload would hold it
    Column("job_id", Text, ForeignKey("jobs.id", ondelete="CASCADE")),  # NULL: waiting
    Column("created_at", Double, nullable=False),
    UniqueConstraint("recipe", "event_key", name="uq_batch_members_recipe_event"),
    Index("ix_batch_members_waiting", "recipe", "seq",
          sqlite_where=text("job_id IS NULL"), postgresql_where=text("job_id IS NULL")),
)

# changed_columns: the last digest of a recipe's watched columns, per record.
record_digests = Table(
    "record_digests",
    metadata,
    Column("recipe", Text, nullable=False),
    Column("record_id", Text, nullable=False),
    Column("digest", Text, nullable=False),
    Column("updated_at", Double, nullable=False),
    PrimaryKeyConstraint("recipe", "record_id", name="pk_record_digests"),
)

token_caches = Table(
    "token_caches",
    metadata,
    Column("connection", Text, primary_key=True),
    Column("ciphertext", LargeBinary, nullable=False),  # encrypted by the caller
    Column("version", BigInteger, nullable=False),
    Column("updated_at", Double, nullable=False),
)

connection_states = Table(
    "connection_states",
    metadata,
    Column("connection", Text, primary_key=True),
    Column("state", Text, nullable=False),
    Column("reason", Text),
    Column("updated_at", Double, nullable=False),
)

recipe_states = Table(
    "recipe_states",
    metadata,
    Column("recipe", Text, primary_key=True),
    Column("enabled", Boolean),  # NULL: follow the recipe file
    Column("last_poll_at", Double),
    Column("last_error", Text),
    Column("last_good_poll_at", Double),  # the last poll without an error (migration 9)
    Column("updated_at", Double, nullable=False),
    # polls failed in a row (0 after a good poll): a recipe is "failing" from
    # records.FAILING_AFTER_POLLS on
    Column("failed_polls", Integer, nullable=False, server_default="0"),
    # set while the daemon runs the last good version because the file now has problems:
    # the first problem, ``file:line:col: message``
    Column("file_problem", Text),
    # `recipes backfill` from a shell without the connection's secrets hands the work to
    # the daemon: the request (JSON, taken by one replica) and the last result (JSON)
    Column("backfill_request", Text),
    Column("backfill_result", Text),
)

# -- several replicas on one database (runner/cluster) --------------------------------

replicas = Table(
    "replicas",
    metadata,
    Column("id", Text, primary_key=True),  # Settings.worker_id: unique per live replica
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("heartbeat_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),  # live while expires_at >= now
)

leases = Table(
    "leases",
    metadata,
    Column("recipe", Text, primary_key=True),
    Column("owner", Text),  # a replica id; NULL once released
    Column("epoch", BigInteger, nullable=False),  # equals cursors.epoch while held
    Column("acquired_at", Double, nullable=False),
    Column("renewed_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
)
