"""The PostgreSQL that state-store tests rely on answers through SQLAlchemy + asyncpg."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = pytest.mark.postgres


async def test_postgres_answers_a_query(postgres_url: str) -> None:
    engine = create_async_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("select 41 + 1"))).scalar_one() == 42
    finally:
        await engine.dispose()
