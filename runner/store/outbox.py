"""The outbox: one poll page's jobs and the trigger's advanced cursor, in one transaction.

Job ids are deterministic: ``uuid5(recipe, event_key, replay)``. The same event seen by
two replicas (or polled twice) yields the same id, so it is stored once (the id is the
only unique key); a forced replay takes a ``replay`` number whose id is not stored yet.

This is the ingest hot path (tens of thousands of rows per second). Ids and payload text
are made before the transaction (:func:`prepare_events`), so a poller can do that for
page N+1 while page N commits. On SQLite a whole page is one ``INSERT … SELECT … ON
CONFLICT DO NOTHING`` that runs in one ``sqlite3_step`` without the GIL, beside the event
loop; see :func:`_insert_sqlite`. The functions are synchronous: the store runs the whole
transaction in one go (``transactions.py``).
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.engine import Connection

from runner.store import batches, changes_seen
from runner.store._sql import insert_for
from runner.store.batches import Batching
from runner.store.cursors import advance_cursor
from runner.store.records import CommitResult, JobStatus, NewEvent
from runner.store.schema import cursors, jobs

_JOB_ID_NAMESPACE = uuid.UUID("0b9e4c52-4f0a-4d8e-9a43-6f1f6d2f7c11")
_NAMESPACE_BYTES = _JOB_ID_NAMESPACE.bytes
_VARIANT = "89ab"
_PENDING = JobStatus.PENDING.value
_COLUMNS = ("id", "recipe", "event_key", "replay", "status", "payload", "attempts",
            "created_at", "updated_at", "next_run_at")
# Payloads are opaque to the database: compact and unsorted, as ``json.dumps(…,
# separators=(",", ":"), ensure_ascii=False)`` would write them, five times faster.
_PAYLOAD_ENCODER = msgspec.json.Encoder()
_SQLITE_ROWS_PER_INSERT = 8000  # 4 bound values a row: below SQLite's 32,766 per statement
_KEYS_PER_LOOKUP = 8000  # bound values per IN (…) lookup: a whole page at once


def job_id_for(recipe: str, event_key: str, replay: int = 0) -> str:
    """The deterministic id of the job for ``event_key`` of ``recipe`` (its ``replay``-th):
    exactly ``str(uuid.uuid5(namespace, …))``, computed without building ``UUID`` objects."""
    digest = hashlib.sha1(_NAMESPACE_BYTES + f"{recipe}\x00{event_key}\x00{replay}".encode())
    h = digest.hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def encode_payload(payload: Any) -> str:
    """A job payload as stored (JSON text)."""
    return _PAYLOAD_ENCODER.encode(payload).decode()


@dataclass(frozen=True, slots=True)
class PreparedEvents:
    """A page's events with their ordinary job ids and encoded payloads, made ahead of the
    transaction (pure CPU work the caller can overlap with the previous page's commit).
    ``forced``: per event, whether it is a forced replay (None: none is)."""

    recipe: str
    keys: list[str]
    forced: list[bool] | None
    ids: list[str]
    payloads: list[str]
    batching: Batching | None = None  # store as batch members (``batches.py``), not jobs
    # changed_columns: per event, (record id, digest of the watched columns); events whose
    # digest the recipe saw last time make no job (``changes_seen.py``)
    digests: list[tuple[str, str]] | None = None


def prepare_events(recipe: str, events: Sequence[NewEvent]) -> PreparedEvents:
    """Ids and payload text of ``events`` (forced ones get their id in the transaction)."""
    forced = [event.force for event in events]
    return prepare_keyed(recipe, [event.key for event in events],
                         [event.payload for event in events], forced if any(forced) else None)


def prepare_keyed(recipe: str, keys: list[str], payloads: Sequence[Any],
                  forced: list[bool] | None = None,
                  batching: Batching | None = None) -> PreparedEvents:
    """Like :func:`prepare_events` from parallel lists: the poller's hot path, which hands
    over the trigger's events themselves as payloads (a dataclass encodes as its fields),
    so no intermediate object is made per row."""
    return PreparedEvents(recipe, keys, forced, [job_id_for(recipe, key) for key in keys],
                          [encode_payload(payload) for payload in payloads], batching)


def commit_poll(
    conn: Connection,
    recipe: str,
    events: Sequence[NewEvent] | PreparedEvents,
    cursor: dict[str, Any],
    expected_epoch: int,
    now_s: float,
) -> CommitResult:
    """Advance the cursor (epoch-fenced) and store ``events`` as pending jobs, skipping
    events already stored. The caller's transaction makes the two atomic."""
    advance_cursor(conn, recipe, cursor, expected_epoch, now_s)
    return insert_events(conn, recipe, events, now_s)


def store_events(
    conn: Connection, recipe: str, events: Sequence[NewEvent] | PreparedEvents,
    now_s: float,
) -> CommitResult:
    """Store ``events`` as pending jobs without touching the cursor (a backfill). The
    cursor row is locked first (PostgreSQL) so this serialises with the live poller's
    commits exactly as two commits of the poller do; SQLite's write lock does the same."""
    conn.execute(
        select(cursors.c.recipe).where(cursors.c.recipe == recipe).with_for_update())
    return insert_events(conn, recipe, events, now_s)


def insert_events(
    conn: Connection, recipe: str, events: Sequence[NewEvent] | PreparedEvents,
    now_s: float,
) -> CommitResult:
    """Insert the events not stored yet; the ids of the new jobs, in event order."""
    if not isinstance(events, PreparedEvents):
        events = prepare_events(recipe, events)
    if events.recipe != recipe:
        raise ValueError(f"events prepared for {events.recipe!r}, not {recipe!r}")
    if not events.keys:
        return CommitResult(new_job_ids=(), duplicates=0)
    if events.digests is not None and events.forced is None:
        events = _changed_only(conn, recipe, events, now_s)
    if events.batching is not None and events.forced is None:
        return batches.insert_members(conn, recipe, events.keys, events.payloads, events.ids,
                                      now_s)
    rows = _rows(conn, recipe, events, now_s)
    if conn.dialect.name == "sqlite":
        inserted = _insert_sqlite(conn, rows)
    else:
        inserted = _insert_generic(conn, recipe, rows)
    new_ids = tuple(dict.fromkeys(row[0] for row in rows if row[0] in inserted))
    return CommitResult(new_job_ids=new_ids, duplicates=len(events.keys) - len(new_ids))


def _changed_only(conn: Connection, recipe: str, events: PreparedEvents,
                  now_s: float) -> PreparedEvents:
    """The events whose watched columns changed (see ``changes_seen.py``); their digests
    are remembered in this transaction."""
    assert events.digests is not None
    same = changes_seen.unchanged(conn, recipe, events.digests)
    changes_seen.remember(conn, recipe, events.digests, now_s)
    keep = [i for i, unchanged in enumerate(same) if not unchanged]
    return PreparedEvents(recipe, [events.keys[i] for i in keep], None,
                          [events.ids[i] for i in keep], [events.payloads[i] for i in keep],
                          events.batching)


def store_batches(conn: Connection, recipe: str, batching: Batching, now_s: float, *,
                  flush: bool = False) -> CommitResult:
    """Turn waiting batch members into jobs (see :func:`batches.form_batches`). The cursor
    row is locked first (PostgreSQL), as for a backfill, so the live poller and a backfill
    never group the same members twice."""
    conn.execute(
        select(cursors.c.recipe).where(cursors.c.recipe == recipe).with_for_update())
    formed = batches.form_batches(conn, recipe, batching, now_s, flush=flush)
    if not formed:
        return CommitResult(new_job_ids=(), duplicates=0)
    prepared = prepare_keyed(recipe, [key for key, _, _ in formed],
                             [payload for _, payload, _ in formed])
    result = insert_events(conn, recipe, prepared, now_s)
    batches.assign(conn, prepared.ids, [seqs for _, _, seqs in formed])
    return result


def _rows(conn: Connection, recipe: str, events: PreparedEvents,
          now_s: float) -> list[tuple[Any, ...]]:
    """One ``_COLUMNS`` tuple per event; forced events get their replay number and id."""
    if events.forced is None:
        return [(job_id, recipe, key, 0, _PENDING, payload, 0, now_s, now_s, now_s)
                for key, job_id, payload in zip(events.keys, events.ids, events.payloads,
                                                strict=True)]
    replays = _replay_numbers(conn, recipe, events.keys, events.forced)
    return [(job_id_for(recipe, key, replay) if force else job_id, recipe, key, replay,
             _PENDING, payload, 0, now_s, now_s, now_s)
            for key, force, replay, job_id, payload in zip(
                events.keys, events.forced, replays, events.ids, events.payloads, strict=True)]


def _insert_sqlite(conn: Connection, rows: list[tuple[Any, ...]]) -> set[str]:
    """Insert a page in one statement; the ids actually inserted (known keys, and a key
    repeated within the page, hit ON CONFLICT and are not inserted).

    No ``RETURNING``: each returned row is one more ``sqlite3_step``, and the writer thread
    must take the GIL back after every step, which a busy event loop holds. One statement
    inserts its rows under consecutive ``seq`` values (the write lock keeps others out),
    ending at ``lastrowid``; they need reading back only when the count says some were
    skipped.
    """
    inserted: set[str] = set()
    for start in range(0, len(rows), _SQLITE_ROWS_PER_INSERT):
        chunk = rows[start:start + _SQLITE_ROWS_PER_INSERT]
        values: list[Any] = [chunk[0][1], chunk[0][7], chunk[0][8], chunk[0][9]]
        for row in chunk:
            values += (row[0], row[2], row[3], row[5])
        result = conn.exec_driver_sql(_sqlite_insert(len(chunk)), tuple(values))
        count, last = result.rowcount, result.lastrowid
        if count == len(chunk):
            inserted.update(row[0] for row in chunk)
        elif count:
            found = conn.exec_driver_sql("SELECT id FROM jobs WHERE seq > ? AND seq <= ?",
                                         (last - count, last))
            inserted.update(job_id for (job_id,) in found)
    return inserted


@functools.lru_cache(maxsize=8)
def _sqlite_insert(row_count: int) -> str:
    # "?" parameters are numbered in order of appearance: the four shared ones, then four a
    # row. "WHERE true" resolves SQLite's INSERT … SELECT … ON CONFLICT parsing ambiguity.
    values = ", ".join(["(?, ?, ?, ?)"] * row_count)
    return ("INSERT INTO jobs (recipe, created_at, updated_at, next_run_at, id, event_key, "
            "replay, payload, status, attempts) "
            f"SELECT ?, ?, ?, ?, column1, column2, column3, column4, '{_PENDING}', 0 "
            f"FROM (VALUES {values}) WHERE true "
            "ON CONFLICT (id) DO NOTHING")


def _insert_generic(conn: Connection, recipe: str,
                          rows: list[tuple[Any, ...]]) -> set[str]:
    """Skip the known keys (one lookup), insert the rest with a plain executemany. ON
    CONFLICT stays as a safety net; the cursor row lock held by the transaction keeps the
    recipe's other committers out meanwhile."""
    known = _known_ids(conn, [row[0] for row in rows])
    fresh: dict[str, tuple[Any, ...]] = {}
    for row in rows:
        if row[0] not in known:
            fresh.setdefault(row[0], row)
    if fresh:
        stmt = insert_for(conn, jobs).on_conflict_do_nothing(index_elements=["id"])
        conn.execute(stmt, [dict(zip(_COLUMNS, row, strict=True))
                                  for row in fresh.values()])
    return set(fresh)


def _known_ids(conn: Connection, ids: list[str]) -> set[str]:
    """Which of the job ``ids`` are stored (one primary-key lookup per 8,000)."""
    unique = list(dict.fromkeys(ids))
    known: set[str] = set()
    for start in range(0, len(unique), _KEYS_PER_LOOKUP):
        rows = conn.execute(select(jobs.c.id).where(
            jobs.c.id.in_(unique[start:start + _KEYS_PER_LOOKUP])))
        known.update(rows.scalars())
    return known


def _replay_numbers(conn: Connection, recipe: str, keys: Sequence[str],
                    forced: Sequence[bool]) -> list[int]:
    """0 for ordinary events; for forced ones, the lowest replay numbers whose job is not
    stored (a key's jobs are found by id, which is a function of the key and number)."""
    wanted = Counter(key for key, force in zip(keys, forced, strict=True) if force)
    free: dict[str, list[int]] = {key: [] for key in wanted}
    candidate = dict.fromkeys(wanted, 0)
    while pending := [key for key in wanted if len(free[key]) < wanted[key]]:
        ids = {job_id_for(recipe, key, candidate[key]): key for key in pending}
        taken = _known_ids(conn, list(ids))
        for job_id, key in ids.items():
            if job_id not in taken:
                free[key].append(candidate[key])
            candidate[key] += 1
    return [free[key].pop(0) if force else 0 for key, force in zip(keys, forced, strict=True)]
