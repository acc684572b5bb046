"""PYTEST_DONT_REWRITE
Fixtures for the replica tests: a fresh PostgreSQL schema per test, named in the state URL
(``?schema=``) so that subprocess replicas find it too. Loaded with ``pytest_plugins``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


@pytest.fixture
async def cluster_url(postgres_url: str) -> AsyncIterator[str]:
    """A state URL on the test PostgreSQL whose schema exists only for this test."""
    schema = f"cluster_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(postgres_url)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield f"{postgres_url}?schema={schema}"
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()
