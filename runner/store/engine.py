"""Create the store's async engine from a URL (SQLite by default, PostgreSQL for replicas).

Accepted forms: ``sqlite+aiosqlite:///path``, ``sqlite:///path``, a bare path such as
``/var/lib/recipe-runner/state.db``, ``postgresql+asyncpg://…``, ``postgresql://…`` and
``postgres://…``. SQLite in memory is refused: each pooled connection would get its own
empty database. A PostgreSQL URL may end in ``?schema=NAME`` to keep the state in that
schema (its ``search_path``), e.g. several deployments or test runs in one database.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 10.0
# The ingest writer's page cache (KiB; SQLite's default is 2 MiB): index pages of random
# job ids stay in memory instead of being read back for every page of jobs.
SQLITE_WRITER_CACHE_KIB = 65_536

# Execution option: this transaction only reads, so SQLite need not take the write lock.
READ_ONLY = "recipe_runner_read_only"

_PREFIXES = {
    "sqlite+aiosqlite://": "sqlite+aiosqlite://",
    "sqlite://": "sqlite+aiosqlite://",
    "postgresql+asyncpg://": "postgresql+asyncpg://",
    "postgresql://": "postgresql+asyncpg://",
    "postgres://": "postgresql+asyncpg://",
}


def normalize_url(url: str) -> str:
    """The async-driver form of ``url``; raises ``ValueError`` for anything else."""
    if "://" not in url:
        return f"sqlite+aiosqlite:///{Path(url).expanduser().resolve()}"
    for prefix, driver in _PREFIXES.items():
        if url.startswith(prefix):
            normalized = driver + url[len(prefix) :]
            _refuse_memory(normalized)
            return normalized
    raise ValueError(f"unsupported state store URL scheme: {url.split('://', 1)[0]}://")


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL)."""
    normalized = normalize_url(url)
    if not normalized.startswith("sqlite"):
        return None
    return Path(normalized.split(":///", 1)[1].split("?", 1)[0])


PRIVATE_FILE, PRIVATE_FOLDER = 0o600, 0o700


def create_private(database: Path) -> None:
    """Create a missing SQLite file (and missing folders) for this user only: the store holds
    record data and token caches. SQLite gives its ``-wal`` and ``-shm`` files the database
    file's mode. Existing files and folders are left as they are."""
    for folder in reversed([database.parent, *database.parent.parents]):
        if not folder.exists():
            folder.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))


def _refuse_memory(url: str) -> None:
    if url.startswith("sqlite") and url.rstrip("/").endswith((":memory:", "sqlite+aiosqlite:")):
        raise ValueError("the state store needs a SQLite file, not an in-memory database")


# -- write trouble: a full or read-only disk -------------------------------------------------

WRITE_TROUBLE_MARKERS = (
    ("database or disk is full", "the disk is full"),
    ("no space left", "the disk is full"),
    ("could not extend file", "the disk is full"),
    ("diskfull", "the disk is full"),
    ("readonly database", "the database is read-only"),
    ("read-only file system", "the file system is read-only"),
    ("read-only transaction", "the database is read-only"),
    ("disk i/o error", "a disk I/O error"),
)
MIN_FREE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class WriteTrouble:
    reason: str
    at_s: float


_TROUBLE: dict[tuple[object, ...], WriteTrouble] = {}


def _database_key(engine: Engine | AsyncEngine) -> tuple[object, ...]:
    url = engine.url
    return (url.host, url.port, url.database)


def _on_error(context: ExceptionContext) -> None:
    """Remember a failed statement that says the disk is full or read-only (every engine
    on the same database shares what it saw: the writer thread's and the loop's)."""
    text = f"{context.original_exception!r} {context.original_exception}".lower()
    for marker, reason in WRITE_TROUBLE_MARKERS:
        if marker in text:
            _TROUBLE[_database_key(context.engine)] = WriteTrouble(reason, time.time())
            return


def write_trouble(engine: AsyncEngine, within_s: float = 30.0) -> str | None:
    """Why writes to the store failed in the last ``within_s`` (or a SQLite disk is full
    now), else None: ``/readyz`` is not ready while it is not None."""
    trouble = _TROUBLE.get(_database_key(engine))
    if trouble is not None and time.time() - trouble.at_s <= within_s:
        return f"state store cannot write: {trouble.reason} ({time.time() - trouble.at_s:.0f}s ago)"
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if database:
        try:
            free = shutil.disk_usage(Path(database).parent).free
        except OSError:
            return None
        if free < MIN_FREE_BYTES:
            return f"state store cannot write: the disk is full ({free} bytes free)"
    return None


def create_store_engine(url: str, *, schema: str | None = None) -> AsyncEngine:
    """An engine for ``url``. ``schema`` (PostgreSQL only) sets the ``search_path``."""
    engine = _create_engine(url, schema)
    event.listen(engine.sync_engine, "handle_error", _on_error)
    return engine


def _create_engine(url: str, schema: str | None) -> AsyncEngine:
    normalized = normalize_url(url)
    if normalized.startswith("sqlite"):
        if schema is not None:
            raise ValueError("schema= is only supported on PostgreSQL")
        return _sqlite_engine(normalized)
    normalized, url_schema = _split_schema(normalized)
    schema = schema or url_schema
    # A server that never answers must not hold the daemon's start for asyncpg's 60 s.
    connect_args: dict[str, Any] = {"timeout": PG_CONNECT_TIMEOUT_S}
    if schema is not None:
        connect_args["server_settings"] = {"search_path": schema}
    return create_async_engine(normalized, connect_args=connect_args)


def _split_schema(url: str) -> tuple[str, str | None]:
    """``url`` without its ``schema=`` query parameter, and that parameter's value."""
    if "?" not in url:
        return url, None
    base, query = url.split("?", 1)
    params = parse_qsl(query, keep_blank_values=True)
    schema = next((value for key, value in params if key == "schema"), None)
    rest = urlencode([(key, value) for key, value in params if key != "schema"])
    return (f"{base}?{rest}" if rest else base), schema or None


def _sqlite_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
    return engine


def sqlite_sync_engine(engine: AsyncEngine) -> Engine:
    """A synchronous engine on the same SQLite file as ``engine``, set up alike (WAL,
    busy timeout, ``BEGIN IMMEDIATE``), for transactions run whole in one thread."""
    sync = create_engine(engine.url.set(drivername="sqlite"),
                         connect_args={"check_same_thread": False})
    event.listen(sync, "connect", _on_sqlite_connect)
    event.listen(sync, "connect", _on_writer_connect)
    event.listen(sync, "begin", _on_sqlite_begin)
    event.listen(sync, "handle_error", _on_error)
    return sync


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take over BEGIN from the driver (see _on_sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        # synchronous=NORMAL may lose the last commits on power loss, but a cursor and
        # its jobs commit together, so they roll back together and are polled again.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # No commit copies the log into the database file: the store's checkpointer
        # thread does, beside the writers (checkpointer.py). Without one (a bare engine),
        # SQLite still checkpoints when the last connection closes.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    finally:
        cursor.close()


def _on_writer_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute(f"PRAGMA cache_size=-{SQLITE_WRITER_CACHE_KIB}")


def _enable_wal(cursor: Any) -> None:
    """WAL lets operators read while the daemon writes. It is a property of the file,
    so only a new file needs switching; the switch needs an exclusive lock and fails at
    once (no busy wait) while another process holds the file, so a connection that loses
    that race carries on: the winner switches the file, or a later connection will."""
    cursor.execute("PRAGMA journal_mode")
    if cursor.fetchone()[0].lower() == "wal":
        return
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except Exception as error:
        if "locked" not in str(error):
            raise


def _on_sqlite_begin(conn: Connection) -> None:
    # A deferred transaction that reads and then writes fails at once (SQLITE_BUSY) if
    # another connection wrote meanwhile; IMMEDIATE takes the write lock up front and
    # waits busy_timeout for it, so read-check-write transactions are serialised.
    read_only = conn.get_execution_options().get(READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
