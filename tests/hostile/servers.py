"""Small local HTTP servers the hostile tests point recipes at: one that records what it
received and answers as told (echo, redirect, status), standing in for a good service and
an attacker's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Recorder:
    """What one server received; ``url`` is its base URL (``host`` as given)."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)

    def received_headers(self) -> list[dict[str, str]]:
        return [r["headers"] for r in self.received]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        self.received.append({"path": request.path, "method": request.method,
                              "headers": dict(request.headers), "body": body})
        if "redirect" in request.query:
            status = int(request.query.get("status", "307"))
            return web.Response(status=status, headers={"Location": request.query["redirect"]})
        if "echo" in request.query:  # an API that puts the request's headers in its error
            return web.json_response({"error": "bad request", "you_sent": dict(request.headers)},
                                     status=int(request.query.get("status", "400")))
        return web.json_response({"ok": True})


@asynccontextmanager
async def recording_server(host: str = "127.0.0.1") -> AsyncIterator[Recorder]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        recorder.url = f"http://{host}:{server.port}"
        yield recorder
