"""``changed_columns``: a recipe fires only when one of its watched columns changed.

Each event of such a recipe carries its record's id and a digest of the watched columns'
values (the trigger computes them: :attr:`connectors.base.TriggerSpec.change_digest`). The
store keeps the last digest per (recipe, record); an event whose digest equals it is a
change of other columns and makes no job. Kept in the same transaction as the jobs, so a
crash never forgets a digest whose job was stored, nor keeps one whose job was not. A record
never seen before always fires (what changed cannot be known).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.engine import Connection

from runner.store._sql import insert_for
from runner.store.schema import record_digests

_PER_LOOKUP = 8000


def unchanged(conn: Connection, recipe: str,
              digests: Sequence[tuple[str, str]]) -> list[bool]:
    """Per event, whether its watched columns hold what the recipe saw last time (a later
    event of the same record in the same page compares with the one before it)."""
    stored = _stored(conn, recipe, {record for record, _ in digests})
    result = []
    for record, digest in digests:
        result.append(stored.get(record) == digest)
        stored[record] = digest
    return result


def remember(conn: Connection, recipe: str, digests: Sequence[tuple[str, str]],
             now_s: float) -> None:
    """Keep each record's latest digest (the last of the page wins)."""
    latest = dict(digests)
    if not latest:
        return
    stmt = insert_for(conn, record_digests)
    stmt = stmt.on_conflict_do_update(
        index_elements=[record_digests.c.recipe, record_digests.c.record_id],
        set_={"digest": stmt.excluded.digest, "updated_at": now_s})
    conn.execute(stmt, [{"recipe": recipe, "record_id": record, "digest": digest,
                         "updated_at": now_s} for record, digest in latest.items()])


def _stored(conn: Connection, recipe: str, records: set[str]) -> dict[str, str]:
    wanted = sorted(records)
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _PER_LOOKUP):
        rows = conn.execute(select(record_digests.c.record_id, record_digests.c.digest).where(
            record_digests.c.recipe == recipe,
            record_digests.c.record_id.in_(wanted[start:start + _PER_LOOKUP])))
        found.update({row.record_id: row.digest for row in rows})
    return found
