"""Batch triggers: events wait as **members** until they fill a job of ``batch_size``.

A recipe whose trigger has ``batch_size`` > 1 stores each event as a member row (in the
same transaction as the cursor, like a job), deduplicated by event key per recipe: a
record that is a member already — of a waiting batch or of a batch that became a job —
is never stored again, whatever page, poll or backfill sees it next. Members then become
jobs in groups of ``batch_size``, oldest first (:func:`form_batches`), so batches fill
across pages and polls; a smaller last group becomes a job once its oldest member has
waited ``batch_wait`` (or at once when asked to flush, as a backfill does).

A batch job's ``trigger.record`` is ``{"records": [...], "keys": [...], "kinds": [...]}``,
each member's record, event key and kind (``upsert``, ``deleted`` …) in order; its key is
``batch:<digest of the member keys>:<count>``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from runner.store._sql import insert_for
from runner.store.records import CommitResult
from runner.store.schema import batch_members, jobs

_decode = msgspec.json.Decoder().decode
_KEYS_PER_LOOKUP = 8000
_MAX_FORMED = 100_000  # members grouped per call; the next call takes the rest


@dataclass(frozen=True, slots=True)
class Batching:
    """How a recipe's events are grouped into jobs."""

    size: int
    wait_s: float = 0.0


def batch_job(members: Sequence[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """(key, job payload) of a batch of decoded member payloads (``key``, ``record``,
    ``kind`` each), in order. Pure: the same members always make the same job."""
    keys = [m["key"] for m in members]
    digest = hashlib.blake2b("\n".join(keys).encode(), digest_size=12).hexdigest()
    key = f"batch:{digest}:{len(keys)}"
    record = {"records": [m["record"] for m in members], "keys": keys,
              "kinds": [m.get("kind", "upsert") for m in members]}
    return key, {"record": record, "kind": "batch", "key": key}


def insert_members(conn: Connection, recipe: str, keys: Sequence[str],
                   payloads: Sequence[str], single_ids: Sequence[str],
                   now_s: float) -> CommitResult:
    """Store the events not seen before as waiting members; ``single_ids`` are the ids the
    events' one-record jobs would have, so a record that already has such a job (the recipe
    ran without batching before) is not batched again. The caller's transaction holds the
    recipe's writes (cursor row lock, or SQLite's write lock)."""
    known = _known_members(conn, recipe, keys) | _known_keys(conn, keys, single_ids)
    fresh: dict[str, str] = {}
    for key, payload in zip(keys, payloads, strict=True):
        if key not in known:
            fresh.setdefault(key, payload)
    if fresh:
        conn.execute(insert_for(conn, batch_members), [
            {"recipe": recipe, "event_key": key, "payload": payload, "created_at": now_s}
            for key, payload in fresh.items()])
    return CommitResult(new_job_ids=(), duplicates=len(keys) - len(fresh), waiting=len(fresh))


def form_batches(conn: Connection, recipe: str, batching: Batching, now_s: float, *,
                 flush: bool = False) -> list[tuple[str, dict[str, Any], list[int]]]:
    """The waiting members grouped into batches, oldest first: (key, payload, member seqs)
    of each job to make. A last group smaller than ``batching.size`` is included once its
    oldest member waited ``batching.wait_s``, or with ``flush``."""
    rows = conn.execute(
        select(batch_members.c.seq, batch_members.c.payload, batch_members.c.created_at)
        .where(batch_members.c.recipe == recipe, batch_members.c.job_id.is_(None))
        .order_by(batch_members.c.seq).limit(_MAX_FORMED)).all()
    groups = [rows[i:i + batching.size] for i in range(0, len(rows), batching.size)]
    if groups and len(groups[-1]) < batching.size and not flush \
            and now_s - groups[-1][0].created_at < batching.wait_s:
        groups.pop()
    formed = []
    for group in groups:
        key, payload = batch_job([_decode(row.payload) for row in group])
        formed.append((key, payload, [row.seq for row in group]))
    return formed


def assign(conn: Connection, job_ids: Sequence[str], seqs: Sequence[Sequence[int]]) -> None:
    """Record which job each group of members became."""
    for job_id, group in zip(job_ids, seqs, strict=True):
        conn.execute(update(batch_members).where(batch_members.c.seq.in_(list(group)))
                     .values(job_id=job_id))


def _known_members(conn: Connection, recipe: str, keys: Sequence[str]) -> set[str]:
    unique = list(dict.fromkeys(keys))
    found: set[str] = set()
    for start in range(0, len(unique), _KEYS_PER_LOOKUP):
        rows = conn.execute(select(batch_members.c.event_key).where(
            batch_members.c.recipe == recipe,
            batch_members.c.event_key.in_(unique[start:start + _KEYS_PER_LOOKUP])))
        found.update(rows.scalars())
    return found


def _known_keys(conn: Connection, keys: Sequence[str], single_ids: Sequence[str]) -> set[str]:
    by_id = dict(zip(single_ids, keys, strict=True))
    found: set[str] = set()
    ids = list(by_id)
    for start in range(0, len(ids), _KEYS_PER_LOOKUP):
        rows = conn.execute(select(jobs.c.id).where(
            jobs.c.id.in_(ids[start:start + _KEYS_PER_LOOKUP])))
        found.update(by_id[job_id] for job_id in rows.scalars())
    return found
