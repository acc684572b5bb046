"""Helpers for the Dynamics 365 connector tests: a token provider signed by the emulator,
a client on the emulator, and row insertion through the control route."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp

from connectors.base import Event, StepContext, TriggerSpec
from connectors.dynamics365 import DataverseClient, RetryPolicy, ThrottleSettings, api_base_url
from emulator import RunningEmulator

USER_OID = "5a4f2c1e-0000-4000-8000-00000000d365"
FAST_RETRY = RetryPolicy(max_attempts=6, base_delay_s=0.01, max_delay_s=0.05)


class EmulatorTokens:
    """A TokenProvider that signs tokens with the emulator's key; keeps one until forced."""

    def __init__(self, emulator: RunningEmulator, lifetime_s: float = 3600) -> None:
        self.emulator = emulator
        self.lifetime_s = lifetime_s
        self.issued = 0
        self.forced = 0
        self._token: str | None = None

    async def access_token(self, *, force_refresh: bool = False) -> str:
        if self._token is None or force_refresh:
            self.forced += int(force_refresh)
            self.issued += 1
            state = self.emulator.state
            self._token = state.signer.sign({
                "aud": self.emulator.base_url, "oid": USER_OID, "iat": int(state.clock.time()),
                "exp": int(state.clock.time() + self.lifetime_s), "n": self.issued})
        return self._token

    async def on_unauthorized(self) -> str:
        return await self.access_token(force_refresh=True)


@asynccontextmanager
async def d365_client(emulator: RunningEmulator, tokens: EmulatorTokens | None = None,
                      throttle: ThrottleSettings | None = None,
                      retry: RetryPolicy = FAST_RETRY) -> AsyncIterator[DataverseClient]:
    client = DataverseClient.open(api_base_url(emulator.base_url), tokens or EmulatorTokens(
        emulator), ca_bundle=emulator.ca_file, throttle=throttle, retry=retry, timeout_s=10)
    async with client:
        yield client


async def control(emulator: RunningEmulator, method: str, path: str,
                  body: Any = None) -> Any:
    """A call to the emulator's control plane (``/_emulator/…``)."""
    async with emulator.client_session() as http:
        data = None if body is None else io.BytesIO(json.dumps(body).encode())
        async with http.request(method, emulator.base_url + path, data=data,
                                headers={"Content-Type": "application/json"}) as resp:
            assert resp.status < 300, await resp.text()
            return await resp.json()


async def insert_rows(http: aiohttp.ClientSession, emulator: RunningEmulator, table: str,
                      rows: list[dict[str, Any]]) -> list[str]:
    url = f"{emulator.base_url}/_emulator/dataverse/tables/{table}/rows"
    body = io.BytesIO(json.dumps({"rows": rows}).encode())
    async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 200, await resp.text()
        return list((await resp.json())["ids"])


async def fault(emulator: RunningEmulator, **rule: Any) -> dict[str, Any]:
    result: dict[str, Any] = await control(emulator, "POST", "/_emulator/faults", rule)
    return result


async def request_log(emulator: RunningEmulator, path: str = "/api/data/*") -> list[dict[str, Any]]:
    from urllib.parse import quote

    body = await control(emulator, "GET", f"/_emulator/requests?path={quote(path)}&limit=10000")
    return list(body["requests"])


def step_context(client: DataverseClient) -> StepContext:
    return StepContext(recipe="test", connection=client)


async def poll_once(spec: TriggerSpec, client: DataverseClient, params: dict[str, Any],
                    cursor: dict[str, Any] | None,
                    stop_after_pages: int | None = None) -> tuple[list[Event], dict[str, Any]]:
    """Run one poll as the engine would: events of each consumed page and the last cursor.

    ``stop_after_pages`` models a crash: the engine has stored that many pages, no more.
    """
    events: list[Event] = []
    last = cursor
    pages = spec.poll(spec.params.model_validate(params), cursor, step_context(client))
    try:
        async for page in pages:
            events += page.events
            last = page.cursor
            if stop_after_pages is not None and stop_after_pages <= 1:
                break
            stop_after_pages = None if stop_after_pages is None else stop_after_pages - 1
    finally:
        await pages.aclose()  # type: ignore[attr-defined]
    assert last is not None
    return events, last


def iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(int(epoch_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
