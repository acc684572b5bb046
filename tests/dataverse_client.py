"""A thin test client for the emulated Dataverse Web API: real aiohttp, a minted token."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDict

from emulator import RunningEmulator

USER_OID = "5a4f2c1e-0000-4000-8000-00000000abcd"


@dataclass
class Reply:
    status: int
    headers: CIMultiDict[str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def error_code(self) -> str:
        return str(self.json["error"]["code"])


def mint_token(emulator: RunningEmulator, audience: str | None = None,
               lifetime_s: float = 3600, **claims: Any) -> str:
    state = emulator.state
    return state.signer.sign({
        "aud": audience if audience is not None else emulator.base_url,
        "exp": int(state.clock.time() + lifetime_s), "iat": int(state.clock.time()),
        "oid": USER_OID, "tid": "00000000-0000-4000-8000-000000000001", **claims})


@dataclass
class Api:
    http: aiohttp.ClientSession
    root: str  # https://localhost:PORT/api/data/v9.2
    token: str
    headers: dict[str, str] = field(default_factory=dict)

    async def call(self, method: str, path: str, body: Any = None,
                   headers: dict[str, str] | None = None, raw_url: bool = False) -> Reply:
        url = path if raw_url or path.startswith("http") else f"{self.root}/{path}"
        all_headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                       "OData-MaxVersion": "4.0", "OData-Version": "4.0", **self.headers,
                       **(headers or {})}
        data = None if body is None else json.dumps(body)
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        async with self.http.request(method, url, data=data, headers=all_headers) as resp:
            return Reply(resp.status, CIMultiDict(resp.headers), await resp.text())

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, body: Any, **kwargs: Any) -> Reply:
        return await self.call("POST", path, body, **kwargs)

    async def patch(self, path: str, body: Any, **kwargs: Any) -> Reply:
        return await self.call("PATCH", path, body, **kwargs)

    async def put(self, path: str, body: Any, **kwargs: Any) -> Reply:
        return await self.call("PUT", path, body, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("DELETE", path, **kwargs)

    async def create(self, entity_set: str, body: dict[str, Any]) -> str:
        reply = await self.post(entity_set, body)
        assert reply.status == 204, reply.text
        return reply.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")

    async def control_insert(self, table: str, rows: list[dict[str, Any]]) -> list[str]:
        base = self.root.split("/api/data/")[0]
        url = f"{base}/_emulator/dataverse/tables/{table}/rows"
        body = io.BytesIO(json.dumps({"rows": rows}).encode())  # large bodies go as a stream
        async with self.http.post(url, data=body,
                                  headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 200, await resp.text()
            return list((await resp.json())["ids"])


@asynccontextmanager
async def dataverse_api(emulator: RunningEmulator, version: str = "v9.2") -> AsyncIterator[Api]:
    async with emulator.client_session() as http:
        yield Api(http, f"{emulator.base_url}/api/data/{version}", mint_token(emulator))


def new_guid() -> str:
    return str(uuid.uuid4())
