"""Helpers for the F&O connector tests: a client on the emulator (tokens signed by the
emulator, fast retries), running an action or one poll the way the engine does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from connectors.base import Event, StepContext
from connectors.catalog import default_registry
from connectors.dynamics365 import RetryPolicy
from connectors.dynamics_fo import FoClient
from emulator import RunningEmulator
from tests.d365_support import EmulatorTokens

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05)


@asynccontextmanager
async def fo_client(emulator: RunningEmulator, *, data_area: str | None = None,
                    cross_company: bool = False, tokens: EmulatorTokens | None = None,
                    retry: RetryPolicy = FAST_RETRY) -> AsyncIterator[FoClient]:
    client = FoClient.open(f"{emulator.base_url}/data/", tokens or EmulatorTokens(emulator),
                           ca_bundle=emulator.ca_file, retry=retry, data_area=data_area,
                           cross_company=cross_company, timeout_s=20)
    async with client:
        yield client


async def run_action(key: str, client: FoClient, params: dict[str, Any]) -> dict[str, Any]:
    spec = default_registry().actions[f"dynamics_fo.{key}"]
    return await spec.run(spec.params.model_validate(params),
                          StepContext(recipe="test", connection=client))


async def poll_once(key: str, client: FoClient, params: dict[str, Any],
                    cursor: dict[str, Any] | None, stop_after_pages: int | None = None
                    ) -> tuple[list[Event], dict[str, Any]]:
    """One poll as the engine runs it: the events of each consumed page and the last cursor.

    ``stop_after_pages`` models a crash after the engine stored that many pages.
    """
    spec = default_registry().triggers[f"dynamics_fo.{key}"]
    events: list[Event] = []
    last = cursor
    pages = spec.poll(spec.params.model_validate(params), cursor,
                      StepContext(recipe="test", connection=client))
    stored = 0
    try:
        async for page in pages:
            events += page.events
            last = page.cursor
            stored += 1
            if stop_after_pages is not None and stored >= stop_after_pages:
                break
    finally:
        await pages.aclose()  # type: ignore[attr-defined]
    assert last is not None
    return events, last
