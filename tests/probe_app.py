"""The real emulator app plus test-only probe routes, served on loopback, for middleware tests.

The probe routes sit under ``/api/data/v9.2/test_probes/`` (so service protection applies) and
at ``/test-probe-tenant/oauth2/v2.0/token`` (an identity-shaped path). They exist only in the
app a test builds here, never in the emulator itself. aiohttp resolves the most specific path
prefix first, so they win over any Dataverse or identity route with a variable segment.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from emulator import EmulatorConfig, build_app
from emulator.state import STATE

PROBES = "/api/data/v9.2/test_probes"
TOKEN_PROBE = "/test-probe-tenant/oauth2/v2.0/token"


@dataclass
class Probes:
    """What the probe handlers saw, and the gate the ``gate`` probe waits on."""

    handled: int = 0
    in_flight: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_in_flight(self, count: int) -> None:
        async with self.entered:
            await asyncio.wait_for(self.entered.wait_for(lambda: self.in_flight >= count), 5)


PROBES_KEY: web.AppKey[Probes] = web.AppKey("test_probes", Probes)


async def json_probe(request: web.Request) -> web.Response:
    request.app[PROBES_KEY].handled += 1
    rows = [{"name": f"row {n}", "n": n} for n in range(20)]
    return web.json_response({"value": rows}, headers={"x-probe": "json"})


async def slow_probe(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("ms", "50")) / 1000)
    return web.json_response({"slept_ms": request.query.get("ms", "50")})


async def gate_probe(request: web.Request) -> web.Response:
    probes = request.app[PROBES_KEY]
    async with probes.entered:
        probes.in_flight += 1
        probes.entered.notify_all()
    try:
        await probes.gate.wait()
    finally:
        probes.in_flight -= 1
    return web.json_response({"gate": "passed"})


async def missing_probe(request: web.Request) -> web.Response:
    raise web.HTTPNotFound(text='{"error": {"code": "", "message": "no such probe"}}',
                           content_type="application/json")


def add_probe_routes(app: web.Application) -> None:
    app[PROBES_KEY] = Probes()
    app.router.add_route("*", f"{PROBES}/json", json_probe)
    app.router.add_get(f"{PROBES}/slow", slow_probe)
    app.router.add_get(f"{PROBES}/gate", gate_probe)
    app.router.add_get(f"{PROBES}/missing", missing_probe)
    app.router.add_post(TOKEN_PROBE, json_probe)


@dataclass
class ProbeServer:
    app: web.Application
    server: TestServer
    http: aiohttp.ClientSession

    @property
    def probes(self) -> Probes:
        return self.app[PROBES_KEY]

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def token(self, oid: str | None = None) -> str:
        """A real signed access token for ``oid`` (a fresh one when None)."""
        claims = {"oid": oid or str(uuid.uuid4()), "exp": int(time.time()) + 3600}
        return self.app[STATE].signer.sign(claims)

    def bearer(self, oid: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(oid)}"}

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call a control route; return its JSON (None for 204), asserting it succeeded."""
        async with self.http.request(method, self.url(path), json=body) as resp:
            assert resp.status < 300, (resp.status, await resp.text())
            return None if resp.status == 204 else await resp.json()


@asynccontextmanager
async def probe_server(config: EmulatorConfig | None = None) -> AsyncIterator[ProbeServer]:
    """Build the emulator app, add the probe routes, serve it over plain HTTP on loopback."""
    app = build_app(config or EmulatorConfig(port=0, tls=False))
    add_probe_routes(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    app[STATE].base_url = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as http:
            yield ProbeServer(app=app, server=server, http=http)
    finally:
        await server.close()
        app[STATE].store.close()
