"""Fixtures for the state-store tests: every test runs on SQLite (a temp file) and on
PostgreSQL (a fresh schema, dropped afterwards). Loaded with ``pytest_plugins``.

PYTEST_DONT_REWRITE (no asserts here; test modules also import its helpers directly).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from runner.store import Store, create_store_engine

T0_S = 1_700_000_000.0


@dataclass
class ManualClock:
    """UNIX seconds that move only when a test says so."""

    now_s: float = T0_S

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


@dataclass
class StoreTarget:
    """Where a test's store lives; ``open`` may be called several times (restarts)."""

    dialect: str
    url: str
    schema: str | None
    clock: ManualClock = field(default_factory=ManualClock)

    async def open(self) -> Store:
        return await Store.open(self.url, schema=self.schema, clock=self.clock)

    def engine(self) -> AsyncEngine:
        return create_store_engine(self.url, schema=self.schema)


@pytest.fixture(params=["sqlite", "postgres"])
async def target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreTarget]:
    if request.param == "sqlite":
        yield StoreTarget("sqlite", str(tmp_path / "state.db"), None)
        return
    postgres_url: str = request.getfixturevalue("postgres_url")
    schema = f"store_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(postgres_url)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield StoreTarget("postgres", postgres_url, schema)
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture
async def store(target: StoreTarget) -> AsyncIterator[Store]:
    opened = await target.open()
    try:
        yield opened
    finally:
        await opened.close()
