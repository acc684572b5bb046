"""An example recipe-runner connector: a SQLite database as trigger and action.

Read top-down as the SDK guide suggests: settings and params models, the client, the
trigger, the action, the online check, then the :class:`Connector` the entry point names.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal

from pydantic import Field

from connectors.base import (
    ActionSpec,
    ClientContext,
    ConnectionSettings,
    ConnectionTypeSpec,
    Connector,
    Event,
    FatalError,
    Finding,
    OnlineUse,
    Params,
    PollPage,
    RecipeError,
    StepContext,
    TriggerSpec,
)
from connectors.online import has_template, suggestion

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PAGE_SIZE = 100


class SqliteSettings(ConnectionSettings):
    """The connection's keys in connections.yaml."""

    type: Literal["sqlite"]
    path: str = Field(description="The database file.", examples=["/var/lib/data/orders.db"])


class NewRowsParams(Params):
    table: str = Field(pattern=NAME.pattern, description="Table to watch.")
    id_column: str = Field("id", pattern=NAME.pattern,
                           description="An integer column that only grows (the rowid).")


class InsertParams(Params):
    table: str = Field(pattern=NAME.pattern, description="Table to insert into.")
    values: dict[str, Any] = Field(description="Column values of the new row.")
    key_column: str | None = Field(
        None, pattern=NAME.pattern, description="A UNIQUE column that receives the step's "
                                                "identity, so a repeated step inserts nothing.")


class SqliteClient:
    """One connection: statements run in a worker thread (sqlite3 is synchronous)."""

    def __init__(self, path: str) -> None:
        self.path = path

    async def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._run, sql, args)

    def _run(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        with sqlite3.connect(self.path, timeout=10) as db:
            db.row_factory = sqlite3.Row
            try:
                return [dict(row) for row in db.execute(sql, args).fetchall()]
            except sqlite3.OperationalError as exc:  # no such table/column: the recipe's
                raise RecipeError(f"sqlite {self.path}: {exc}") from None

    async def columns(self, table: str) -> list[str]:
        rows = await self.query(f'PRAGMA table_info("{table}")')
        return [str(row["name"]) for row in rows]

    async def close(self) -> None:
        """Nothing pooled; here to show where a client releases what it holds."""


def sqlite_client(ctx: ClientContext) -> SqliteClient:
    settings: SqliteSettings = ctx.settings
    return SqliteClient(settings.path)


def client_of(ctx: StepContext) -> SqliteClient:
    if not isinstance(ctx.connection, SqliteClient):
        raise RecipeError("this step needs a sqlite connection")
    return ctx.connection


async def new_rows(params: NewRowsParams, cursor: Mapping[str, Any] | None,
                   ctx: StepContext) -> AsyncIterator[PollPage]:
    """Pages of rows above the last id seen; the cursor is that id."""
    client, last = client_of(ctx), int((cursor or {}).get("last_id", 0))
    while True:
        rows = await client.query(
            f'SELECT * FROM "{params.table}" WHERE "{params.id_column}" > ? '
            f'ORDER BY "{params.id_column}" LIMIT {PAGE_SIZE}', (last,))
        if not rows:
            return
        last = int(rows[-1][params.id_column])
        events = [Event(f"{row[params.id_column]}", row, "created") for row in rows]
        yield PollPage(events, {"last_id": last})
        if len(rows) < PAGE_SIZE:
            return


async def insert(params: InsertParams, ctx: StepContext) -> dict[str, Any]:
    values = dict(params.values)
    if params.key_column:
        values[params.key_column] = ctx.step_key
    names = ", ".join(f'"{n}"' for n in values)
    marks = ", ".join("?" for _ in values)
    verb = "INSERT OR IGNORE" if params.key_column else "INSERT"
    client = client_of(ctx)
    if any(not NAME.match(n) for n in values):
        raise FatalError(f"column names must be plain identifiers: {sorted(values)}")
    await client.query(f'{verb} INTO "{params.table}" ({names}) VALUES ({marks})',
                       tuple(values.values()))
    return {"table": params.table, "values": values}


def online_check(client: SqliteClient) -> Any:
    async def check(use: OnlineUse) -> list[Finding]:
        table = use.params.get("table")
        if not isinstance(table, str) or has_template(table):
            return []
        tables = [r["name"] for r in await client.query(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        if table not in tables:
            return [Finding(("table",), f"no table {table!r}" + suggestion(table, tables))]
        columns = await client.columns(table)
        wanted = [("id_column", use.params.get("id_column"))] if use.trigger else [
            *(("values", name) for name in use.params.get("values") or {}),
            ("key_column", use.params.get("key_column"))]
        return [Finding((field,) if field != "values" else ("values", name),
                        f"table {table} has no column {name!r}" + suggestion(name, columns),
                        "value" if field != "values" else "key")
                for field, name in wanted
                if isinstance(name, str) and name not in columns]

    return check


CONNECTOR = Connector(
    name="sqlite",
    summary="A SQLite database: new rows as a trigger, inserts as an action",
    connection_types=(ConnectionTypeSpec(
        key="sqlite", client=sqlite_client, settings=SqliteSettings,
        online_check=online_check, summary="A SQLite database file"),),
    triggers=(TriggerSpec(key="sqlite.new_rows", params=NewRowsParams, poll=new_rows,
                          summary="Rows added to a table (by a growing integer column).",
                          connection_types=("sqlite",)),),
    actions=(ActionSpec(key="sqlite.insert", params=InsertParams, run=insert,
                        summary="Insert one row.", connection_types=("sqlite",),
                        idempotency="conditional",
                        idempotency_note="with key_column (a UNIQUE column), a repeat of the "
                                         "step inserts nothing"),),
)
