"""Shared fixtures: a real emulator on loopback (HTTPS, test CA) and PostgreSQL."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from emulator import EmulatorConfig, RunningEmulator, running_emulator
from runner.logs import reset_logging
from tests.engine_support import Endpoint

POSTGRES_HOST, POSTGRES_PORT, POSTGRES_DB = "127.0.0.1", 5432, "test"


@pytest.fixture(autouse=True)
def fresh_logging_config() -> Iterator[None]:
    """Commands run in-process configure structlog for their process; undo it after each
    test so one test's log level or stream never leaks into the next."""
    yield
    reset_logging()


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One test CA for the whole session (making keys is the slow part)."""
    return tmp_path_factory.mktemp("emulator-tls")


@pytest.fixture
async def emulator(tls_dir: Path) -> AsyncIterator[RunningEmulator]:
    """A fresh emulator (empty in-memory database) on a free loopback port, over HTTPS."""
    async with running_emulator(EmulatorConfig(port=0, tls_dir=tls_dir)) as emu:
        yield emu


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    """A local HTTP endpoint that records what recipes post to it (see ``Endpoint``)."""
    ep = Endpoint()
    app = web.Application()
    app.router.add_post("/{tail:.*}", ep.handle)
    async with TestServer(app) as server:
        ep.url = str(server.make_url("/hook"))
        yield ep


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection((POSTGRES_HOST, POSTGRES_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL of the test PostgreSQL; skips when unreachable unless REQUIRE_POSTGRES=1."""
    if not _postgres_reachable():
        reason = f"PostgreSQL is not reachable at {POSTGRES_HOST}:{POSTGRES_PORT}"
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} and REQUIRE_POSTGRES=1")
        pytest.skip(reason)
    user = os.environ.get("PGUSER", "postgres")
    return f"postgresql+asyncpg://{user}@{POSTGRES_HOST}:{POSTGRES_PORT}/{POSTGRES_DB}"
