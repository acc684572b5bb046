"""Cluster-wide mutual exclusion through PostgreSQL advisory locks.

The lock is transaction-scoped (``pg_advisory_xact_lock``): it is released when the block
ends, and also when the process dies, because its connection closes. On SQLite there is a
single replica, and no lock is taken.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for ``name`` (stable across processes)."""
    digest = hashlib.sha256(f"recipe-runner.{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@asynccontextmanager
async def cluster_lock(engine: AsyncEngine, name: str) -> AsyncIterator[None]:
    """Hold the cluster lock ``name`` for the block (waits for the current holder)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})
        yield
