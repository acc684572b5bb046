"""A thin test client for the emulated F&O OData service: real aiohttp, a minted token."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict

from emulator import RunningEmulator

APP_OID = "6b1d7c2e-0000-4000-8000-00000000f0f0"
NO_YES = "Microsoft.Dynamics.DataEntities.NoYes"


@dataclass
class Reply:
    status: int
    headers: CIMultiDict[str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def inner(self) -> dict[str, Any]:
        """The ``innererror`` of an F&O error body."""
        inner: dict[str, Any] = self.json["error"]["innererror"]
        return inner


def mint_token(emulator: RunningEmulator, audience: str | None = None,
               lifetime_s: float = 3600, **claims: Any) -> str:
    now = emulator.state.clock.time()
    return emulator.state.signer.sign({
        "aud": audience if audience is not None else emulator.base_url,
        "exp": int(now + lifetime_s), "iat": int(now), "oid": APP_OID,
        "tid": "00000000-0000-4000-8000-000000000001", **claims})


@dataclass
class FoApi:
    http: aiohttp.ClientSession
    base_url: str  # https://localhost:PORT
    token: str

    async def call(self, method: str, path: str, body: Any = None,
                   headers: dict[str, str] | None = None, data: bytes | None = None) -> Reply:
        url = path if path.startswith("http") else f"{self.base_url}/data/{path}"
        all_headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                       **(headers or {})}
        if body is not None:
            data = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        async with self.http.request(method, url, data=data, headers=all_headers) as resp:
            return Reply(resp.status, CIMultiDict(resp.headers), await resp.text())

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, body: Any, **kwargs: Any) -> Reply:
        return await self.call("POST", path, body, **kwargs)

    async def patch(self, path: str, body: Any, **kwargs: Any) -> Reply:
        return await self.call("PATCH", path, body, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("DELETE", path, **kwargs)

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.base_url}/_emulator/fo/{path}"
        # A stream, not bytes: aiohttp warns about large raw-bytes bodies.
        data = None if body is None else io.BytesIO(json.dumps(body).encode())
        headers = {"Content-Type": "application/json"}
        async with self.http.request(method, url, data=data, headers=headers) as resp:
            assert resp.status < 300, await resp.text()
            return await resp.json() if resp.status != 204 else None

    async def insert(self, entity_set: str, rows: list[dict[str, Any]]) -> int:
        reply = await self.control("POST", f"entities/{entity_set}/rows", {"rows": rows})
        return int(reply["inserted"])

    async def rows(self, entity_set: str) -> list[dict[str, Any]]:
        reply = await self.control("GET", f"entities/{entity_set}/rows")
        return list(reply["rows"])


@asynccontextmanager
async def fo_api(emulator: RunningEmulator, token: str | None = None) -> AsyncIterator[FoApi]:
    async with emulator.client_session() as http:
        yield FoApi(http, emulator.base_url, token or mint_token(emulator))


def customer(account: str, company: str = "usmf", **fields: Any) -> dict[str, Any]:
    return {"dataAreaId": company, "CustomerAccount": account, "CustomerGroupId": "10",
            "OrganizationName": f"Customer {account}", **fields}
