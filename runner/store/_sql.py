"""Small SQL helpers shared by the store modules."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_for(conn: AsyncConnection | Connection, table: Table) -> Any:
    """A dialect ``INSERT`` for ``table`` that supports ``ON CONFLICT`` on both backends."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def dumps(value: Any) -> str:
    """Compact, stable JSON text."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
