"""Rows of Dataverse tables in the emulator's SQLite database.

One real SQLite table per Dataverse table (``dv_<logicalname>``): text columns are
``COLLATE NOCASE`` because Dataverse compares strings case-insensitively; datetimes are
INTEGER seconds since the epoch (UTC, whole seconds, as Dataverse shows them); lookups are
``_<name>_value`` plus ``_<name>_type`` (the target's logical name).

Each row also keeps its full rendered JSON in ``_json`` (refreshed by every write), so the
common read — whole rows, no annotations — is a plain column scan rather than per-row
rendering. Every write takes the next ``versionnumber`` from one counter for the whole environment,
and every delete is logged in ``dv_deleted`` with the version it happened at, so change
tracking asks two indexed questions: ``versionnumber > V`` on the table (index
``versionnumber``), and ``(logical_name, versionnumber) > (t, V)`` on the log.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from emulator.clock import EmulatorClock
from emulator.dataverse import callers, errors, notes, states
from emulator.dataverse.events import Observer, RowEvent
from emulator.dataverse.intersect import Intersects
from emulator.dataverse.schema import Attribute, AttributeType, Table
from emulator.store import Store

Value = str | int | float | None
RowJsonSql = Callable[[Table], str]  # table -> SQL expression over alias "t" of a row's JSON
JSON_COLUMN = "_json"

_SQL_TYPES = {
    AttributeType.STRING: "TEXT COLLATE NOCASE",
    AttributeType.MEMO: "TEXT COLLATE NOCASE",
    AttributeType.UNIQUEIDENTIFIER: "TEXT COLLATE NOCASE",
    AttributeType.LOOKUP: "TEXT COLLATE NOCASE",
    AttributeType.INTEGER: "INTEGER",
    AttributeType.PICKLIST: "INTEGER",
    AttributeType.STATE: "INTEGER",
    AttributeType.STATUS: "INTEGER",
    AttributeType.MULTISELECT: "TEXT",  # the chosen values as "1,3"
    AttributeType.FILE: "TEXT",  # the file's id; its content lives in dv_file
    AttributeType.IMAGE: "TEXT",
    AttributeType.BOOLEAN: "INTEGER",
    AttributeType.DATETIME: "INTEGER",
    AttributeType.DECIMAL: "REAL",
    AttributeType.MONEY: "REAL",
}

_DELETED_DDL = (
    "CREATE TABLE IF NOT EXISTS dv_deleted (logical_name TEXT NOT NULL, id TEXT NOT NULL, "
    "versionnumber INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS dv_deleted_version ON dv_deleted (logical_name, versionnumber)",
    # The contents of file and image columns (see files.py), base64.
    "CREATE TABLE IF NOT EXISTS dv_file (fileid TEXT PRIMARY KEY, logical_name TEXT, "
    "record_id TEXT COLLATE NOCASE, column_name TEXT, filename TEXT, mimetype TEXT, "
    "size INTEGER, content TEXT)",
    "CREATE INDEX IF NOT EXISTS dv_file_record ON dv_file (logical_name, record_id)",
)


def new_id() -> str:
    return str(uuid.uuid4())


def column_ddl(table: Table, attr: Attribute) -> list[str]:
    sql_type = _SQL_TYPES[attr.type]
    if attr.name == table.primary_id:
        return [f'"{attr.column}" {sql_type} PRIMARY KEY NOT NULL']
    if attr.formula:
        return [f'"{attr.column}" {sql_type} GENERATED ALWAYS AS ({attr.formula}) VIRTUAL']
    columns = [f'"{attr.column}" {sql_type}']
    if attr.type is AttributeType.LOOKUP:
        columns.append(f'"{attr.type_column}" TEXT')
    return columns


def table_ddl(table: Table) -> list[str]:
    name, pk = table.sql_table, table.primary_id
    columns = [c for a in table.attributes.values() for c in column_ddl(table, a)]
    columns.append(f"{JSON_COLUMN} TEXT")
    statements = [
        f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(columns)})",
        f'CREATE INDEX IF NOT EXISTS {name}_modifiedon ON {name} (modifiedon, "{pk}")',
        f'CREATE INDEX IF NOT EXISTS {name}_createdon ON {name} (createdon, "{pk}")',
        f"CREATE INDEX IF NOT EXISTS {name}_version ON {name} (versionnumber)",
    ]
    for key in table.keys:
        cols = ", ".join(f'"{c}"' for c in key.attributes)
        statements.append(f"CREATE UNIQUE INDEX IF NOT EXISTS {name}_{key.name} ON {name} ({cols})")
    for lookup in table.lookups():
        statements.append(f'CREATE INDEX IF NOT EXISTS {name}_{lookup.name} '
                          f'ON {name} ("{lookup.column}")')
    return statements


def writable_columns(table: Table) -> list[str]:
    """Columns an INSERT names, in table order (computed columns are left out)."""
    columns: list[str] = []
    for attr in table.attributes.values():
        if attr.formula:
            continue
        columns.append(attr.column)
        if attr.type is AttributeType.LOOKUP:
            columns.append(attr.type_column)
    return columns


class VersionCounter:
    """One ``versionnumber`` sequence for the whole environment; it only goes up."""

    def __init__(self, start: int) -> None:
        self._last = start

    def next(self) -> int:
        self._last += 1
        return self._last

    def take(self, count: int) -> range:
        first = self._last + 1
        self._last += count
        return range(first, first + count)

    @property
    def last(self) -> int:
        return self._last


class DataverseStore:
    """Reads and writes rows; owns the version counter and the deletion log."""

    def __init__(self, store: Store, clock: EmulatorClock, row_json_sql: RowJsonSql) -> None:
        self.store = store
        self.row_json_sql = row_json_sql
        self._json_sql: dict[str, str] = {}
        self.db = store.db
        self.clock = clock
        self.system_user_id = ""  # the SYSTEM user, set once the environment made it
        self.intersects: Intersects | None = None  # N:N rows, left when a row is deleted
        self.observer: Observer | None = None  # the event pipeline (webhook steps)
        for statement in _DELETED_DDL:
            self.db.execute(statement)
        self.versions = VersionCounter(self._max_version(["dv_deleted"]))

    def _max_version(self, sql_tables: Iterable[str]) -> int:
        versions = [self.db.execute(f"SELECT max(versionnumber) FROM {t}").fetchone()[0] or 0
                    for t in sql_tables]
        return max(versions, default=0)

    def create_table(self, table: Table) -> None:
        with self.store.transaction() as db:
            for statement in table_ddl(table):
                db.execute(statement)
        self.versions = VersionCounter(max(self.versions.last,
                                           self._max_version([table.sql_table])))

    def now_s(self) -> int:
        return int(self.clock.time())

    def insert(self, table: Table, values: Mapping[str, Value]) -> str:
        """Create one row; returns its id. ``values`` are keyed by column."""
        row = callers.on_create(table, states.on_create(table, notes.on_write(table, values)),
                                self.system_user_id)
        row.setdefault(table.primary_id, new_id())
        now = self.now_s()
        row.setdefault("createdon", now)
        row.setdefault("modifiedon", row["createdon"])
        row["versionnumber"] = self.versions.next()
        self._insert_rows(table, list(row), [tuple(row.values())])
        self._render(table, f'"{table.primary_id}" = ?', [row[table.primary_id]])
        self._created(table, [(str(row[table.primary_id]), row)])
        return str(row[table.primary_id])

    def insert_many(self, table: Table, rows: Sequence[Mapping[str, Value]]) -> list[str]:
        """Create many rows in one statement; each may carry createdon/modifiedon (seconds)."""
        columns = writable_columns(table)
        now = self.now_s()
        ids: list[str] = []
        tuples = []
        written: list[tuple[str, Mapping[str, Value]]] = []
        watched = self._watched("Create", table)  # rows are kept for the events only if so
        stamps = callers.create_stamps(table, self.system_user_id)
        for row, version in zip(rows, self.versions.take(len(rows)), strict=True):
            row = stamps.apply(states.on_create(table, notes.on_write(table, row)))
            full = {c: row.get(c) for c in columns}
            full[table.primary_id] = full[table.primary_id] or new_id()
            full["createdon"] = full["createdon"] if full["createdon"] is not None else now
            if full["modifiedon"] is None:
                full["modifiedon"] = full["createdon"]
            full["versionnumber"] = version
            ids.append(str(full[table.primary_id]))
            tuples.append(tuple(full.values()))
            if watched:
                written.append((ids[-1], {c: v for c, v in full.items() if v is not None}))
        self._insert_rows(table, columns, tuples)
        if rows:
            first = tuples[0][columns.index("versionnumber")]
            self._render(table, "versionnumber BETWEEN ? AND ?", [first, self.versions.last])
        if watched:
            self._created(table, written)
        return ids

    def _watched(self, message: str, table: Table) -> bool:
        return self.observer is not None and self.observer.watches(message, table)

    def _created(self, table: Table, rows: list[tuple[str, Mapping[str, Value]]]) -> None:
        if not self._watched("Create", table):
            return
        assert self.observer is not None
        for record_id, target in rows:
            self.observer.observe(RowEvent("Create", table, record_id, target, None,
                                           self._row(table, record_id)))

    def _row(self, table: Table, record_id: str) -> dict[str, Any] | None:
        row = self.fetch(table, record_id)
        if row is None:
            return None
        return {k: v for k, v in dict(row).items() if k != JSON_COLUMN}

    def _insert_rows(self, table: Table, columns: list[str], rows: list[tuple[Value, ...]]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table.sql_table} ({names}) VALUES ({marks})"
        with self._integrity(table), self.store.transaction() as db:
            db.executemany(sql, rows)

    def update(self, table: Table, record_id: str, values: Mapping[str, Value],
               modified_s: int | None = None) -> int:
        """Change columns of an existing row; returns its new version number.

        ``modified_s`` lets one bulk request stamp all its rows with one clock reading.
        """
        values = callers.on_update(table, states.on_update(table, notes.on_write(table, values)),
                                   self.system_user_id)
        version = self.versions.next()
        modified = self.now_s() if modified_s is None else modified_s
        row = {**values, "modifiedon": modified, "versionnumber": version}
        watched = self._watched("Update", table)
        before = self._row(table, record_id) if watched else None
        assignments = ", ".join(f'"{c}" = ?' for c in row)
        sql = f'UPDATE {table.sql_table} SET {assignments} WHERE "{table.primary_id}" = ?'
        with self._integrity(table), self.store.transaction() as db:
            db.execute(sql, [*row.values(), record_id])
        self._render(table, f'"{table.primary_id}" = ?', [record_id])
        if watched and self.observer is not None and before is not None:
            self.observer.observe(RowEvent("Update", table, record_id, row, before,
                                           self._row(table, record_id)))
        return version

    def _render(self, table: Table, where: str, params: list[Value]) -> None:
        """Refresh the stored JSON of the rows just written."""
        if table.logical_name not in self._json_sql:
            self._json_sql[table.logical_name] = self.row_json_sql(table)
        expression = self._json_sql[table.logical_name]
        self.db.execute(f"UPDATE {table.sql_table} AS t SET {JSON_COLUMN} = {expression} "
                        f"WHERE {where}", params)

    def delete(self, table: Table, record_id: str) -> bool:
        before = self._row(table, record_id) if self._watched("Delete", table) else None
        with self.store.transaction() as db:
            cursor = db.execute(
                f'DELETE FROM {table.sql_table} WHERE "{table.primary_id}" = ?', (record_id,))
            if cursor.rowcount == 0:
                return False
            db.execute("INSERT INTO dv_deleted VALUES (?, ?, ?)",
                       (table.logical_name, record_id.lower(), self.versions.next()))
            if self.intersects is not None:
                self.intersects.forget(table.logical_name, record_id)
            db.execute("DELETE FROM dv_file WHERE logical_name = ? AND record_id = ?",
                       (table.logical_name, record_id))
        if before is not None and self.observer is not None:
            self.observer.observe(RowEvent("Delete", table, record_id, {}, before, None))
        return True

    def fetch(self, table: Table, record_id: str) -> sqlite3.Row | None:
        return self.db.execute(f'SELECT * FROM {table.sql_table} WHERE "{table.primary_id}" = ?',
                               (record_id,)).fetchone()

    def find_by_columns(self, table: Table, key: Mapping[str, Value]) -> str | None:
        """The id of the row whose columns equal ``key`` (an alternate key), if any."""
        where = " AND ".join(f'"{c}" = ?' for c in key)
        row = self.db.execute(f'SELECT "{table.primary_id}" FROM {table.sql_table} WHERE {where}',
                              list(key.values())).fetchone()
        return None if row is None else str(row[0])

    def deleted_since(self, table: Table, version: int) -> list[tuple[str, int]]:
        """(id, versionnumber) of rows deleted after ``version``, oldest first."""
        rows = self.db.execute(
            "SELECT id, versionnumber FROM dv_deleted WHERE logical_name = ? "
            "AND versionnumber > ? ORDER BY versionnumber", (table.logical_name, version))
        return [(str(r[0]), int(r[1])) for r in rows]

    @staticmethod
    def changed_since_sql(version: int, alias: str = "t") -> tuple[str, list[Value]]:
        """A WHERE fragment for rows created or updated after ``version`` (uses the index)."""
        return f"{alias}.versionnumber > ?", [version]

    def _integrity(self, table: Table) -> _IntegrityErrors:
        return _IntegrityErrors(table)


class _IntegrityErrors:
    """Turns SQLite constraint failures into the Dataverse duplicate errors."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: Any) -> bool:
        if not isinstance(exc, sqlite3.IntegrityError):
            return False
        failed = str(exc).split(":", 1)[-1]
        for key in self.table.keys:
            if all(f".{c}" in failed for c in key.attributes):
                columns = ",".join(key.attributes)
                raise errors.precondition_failed(
                    f"Entity Key {key.name} violated. A record with the same value for "
                    f"{columns} already exists. A duplicate record cannot be created.",
                    errors.DUPLICATE_KEY) from exc
        raise errors.precondition_failed("Cannot insert duplicate key.",
                                         errors.DUPLICATE_RECORD) from exc
