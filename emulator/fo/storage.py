"""Rows of F&O entities in the emulator's SQLite database.

One SQLite table per entity (``fo_<set>``), one column per field named like the field;
strings and enums compare case-insensitively (``COLLATE NOCASE``) as SQL Server does for
F&O; a unique index over the key columns makes the key the identity. Each row keeps its
rendered JSON in ``$json`` (refreshed by every write) so a page of whole rows is a column
scan, and its ETag in ``$etag``: ``W/"<base64 of '0,<version>'>"`` as F&O shows them
(reference §9), from one version counter per environment.

Bookkeeping columns start with ``$``, which no OData identifier (so no field) can, and the
row id is the explicit ``$rowid`` column: SQLite's implicit ``rowid``/``oid``/``_rowid_``
names mean a field's column once a field is called that (a seed field ``RowId`` did).
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import count

from emulator.fo import errors
from emulator.fo.entities import Entity, FieldType
from emulator.fo.payload import Value, json_sql
from emulator.store import Store

_SQL_TYPES = {
    FieldType.STRING: "TEXT COLLATE NOCASE",
    FieldType.ENUM: "TEXT COLLATE NOCASE",
    FieldType.INT: "INTEGER",
    FieldType.REAL: "REAL",
    FieldType.DATETIME: "INTEGER",
}
ALIAS = "t"
# Quoted SQL identifiers of the bookkeeping columns (see the module docstring).
ROW_ID = '"$rowid"'
ETAG = '"$etag"'
JSON = '"$json"'


def table_ddl(entity: Entity) -> list[str]:
    columns = [f"{ROW_ID} INTEGER PRIMARY KEY"]
    columns += [f'"{f.name}" {_SQL_TYPES[f.type]} NOT NULL' for f in entity.fields]
    columns += [f"{ETAG} TEXT NOT NULL", f"{JSON} TEXT"]
    name = entity.sql_table
    keys = ", ".join(f'"{k}"' for k in entity.key)
    statements = [f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(columns)})",
                  f"CREATE UNIQUE INDEX IF NOT EXISTS {name}_key ON {name} ({keys})"]
    for date_field in entity.server_dates():
        statements.append(f'CREATE INDEX IF NOT EXISTS {name}_{date_field} '
                          f'ON {name} ("{date_field}", {keys})')
    return statements


def etag(version: int) -> str:
    return 'W/"' + base64.b64encode(f"'0,{version}'".encode()).decode() + '"'


class FoStore:
    """Inserts, updates, deletes and finds rows; every write re-renders the row's JSON."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db
        self._versions = count(1)

    def create_table(self, entity: Entity) -> None:
        with self.store.transaction() as db:
            for statement in table_ddl(entity):
                db.execute(statement)

    def insert_many(self, entity: Entity, rows: Sequence[Mapping[str, Value]]) -> int:
        """Insert complete rows (every field) in one statement; a duplicate key fails all."""
        names = [f.name for f in entity.fields]
        columns = ", ".join(f'"{n}"' for n in names)
        marks = ", ".join("?" for _ in range(len(names) + 1))
        tuples = [(*(row[n] for n in names), etag(next(self._versions))) for row in rows]
        with self.store.transaction() as db, _duplicates(entity):
            first = self._next_rowid(entity)
            db.executemany(f"INSERT INTO {entity.sql_table} ({columns}, {ETAG}) "
                           f"VALUES ({marks})", tuples)
            self._render(entity, f"{ROW_ID} >= ?", [first])
        return len(tuples)

    def insert(self, entity: Entity, row: Mapping[str, Value]) -> int:
        """Insert one complete row; returns its row id."""
        self.insert_many(entity, [row])
        return self._next_rowid(entity) - 1

    def update(self, entity: Entity, rowid: int, values: Mapping[str, Value]) -> None:
        sets = ", ".join(f'"{name}" = ?' for name in values)
        with self.store.transaction() as db, _duplicates(entity):
            db.execute(f"UPDATE {entity.sql_table} SET {sets}, {ETAG} = ? WHERE {ROW_ID} = ?",
                       [*values.values(), etag(next(self._versions)), rowid])
            self._render(entity, f"{ROW_ID} = ?", [rowid])

    def delete(self, entity: Entity, rowid: int) -> None:
        self.db.execute(f"DELETE FROM {entity.sql_table} WHERE {ROW_ID} = ?", (rowid,))

    def find(self, entity: Entity, key: Mapping[str, Value]) -> sqlite3.Row | None:
        """The row whose key columns equal ``key`` (its row id under ``"$rowid"``)."""
        where = " AND ".join(f'"{name}" = ?' for name in key)
        return self.db.execute(f"SELECT * FROM {entity.sql_table} WHERE {where}",
                               list(key.values())).fetchone()

    def find_rowid(self, entity: Entity, key: Mapping[str, Value]) -> int | None:
        """The row id of the row whose key columns equal ``key``."""
        row = self.find(entity, key)
        return None if row is None else int(row["$rowid"])

    def fetch(self, entity: Entity, rowid: int) -> sqlite3.Row | None:
        return self.db.execute(f"SELECT * FROM {entity.sql_table} WHERE {ROW_ID} = ?",
                               (rowid,)).fetchone()

    def _next_rowid(self, entity: Entity) -> int:
        last = self.db.execute(f"SELECT max({ROW_ID}) FROM {entity.sql_table}").fetchone()[0]
        return int(last or 0) + 1

    def _render(self, entity: Entity, where: str, params: Sequence[Value]) -> None:
        self.db.execute(f"UPDATE {entity.sql_table} AS {ALIAS} SET {JSON} = "
                        f"{json_sql(entity, ALIAS)} WHERE {where}", list(params))


@contextmanager
def _duplicates(entity: Entity) -> Iterator[None]:
    """Turns a unique-key violation into F&O's write failure."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise errors.write_failed(entity.table_type, (
            f"Cannot create a record in {entity.set_name} ({entity.table_type}). "
            "The record already exists.")) from exc
