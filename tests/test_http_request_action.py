"""``http.request`` against a real local HTTP server: bodies, auth headers, status mapping."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connectors.base import FatalError, RetryableError, StepContext
from connectors.http import HttpClient, HttpRequestParams, http_request
from connectors.http.retry_after import parse_retry_after
from emulator import RunningEmulator


@pytest.fixture
async def server() -> AsyncIterator[tuple[TestServer, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def echo(request: web.Request) -> web.Response:
        body = await request.text()
        seen.append({"method": request.method, "path": request.path, "query": dict(request.query),
                     "headers": dict(request.headers), "body": body})
        status = int(request.query.get("status", "200"))
        headers = {"Retry-After": "7"} if status == 429 else {}
        return web.json_response({"ok": status < 400, "got": body}, status=status, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    async with TestServer(app) as srv:
        yield srv, seen


@pytest.fixture
async def client(server: tuple[TestServer, Any]) -> AsyncIterator[HttpClient]:
    srv, _ = server
    async with aiohttp.ClientSession() as session:
        yield HttpClient(session, base_url=str(srv.make_url("/api")),
                         headers={"Authorization": "Bearer conn-token"})


def ctx(client: HttpClient) -> StepContext:
    return StepContext(recipe="r", connection=client)


async def test_post_json_relative_to_base_url_with_connection_auth(
    client: HttpClient, server: tuple[TestServer, list[dict[str, Any]]]
) -> None:
    params = HttpRequestParams.model_validate(
        {"method": "POST", "url": "/orders", "json": {"n": 1}, "query": {"dry": True}}
    )
    output = await http_request(params, ctx(client))
    _, seen = server
    assert output["status"] == 200 and output["json"]["ok"] is True
    assert seen[0]["path"] == "/api/orders"
    assert seen[0]["query"] == {"dry": "true"}
    assert seen[0]["headers"]["Authorization"] == "Bearer conn-token"
    assert seen[0]["body"] == '{"n": 1}'


async def test_429_is_retryable_with_retry_after(client: HttpClient) -> None:
    params = HttpRequestParams(url="/x", query={"status": 429})
    with pytest.raises(RetryableError) as info:
        await http_request(params, ctx(client))
    assert info.value.retry_after_s == 7 and info.value.status == 429


async def test_404_is_fatal_unless_allowed(client: HttpClient) -> None:
    with pytest.raises(FatalError, match="answered 404"):
        await http_request(HttpRequestParams(url="/x", query={"status": 404}), ctx(client))
    allowed = HttpRequestParams(url="/x", query={"status": 404}, allow_status=[404])
    assert (await http_request(allowed, ctx(client)))["status"] == 404


async def test_connection_refused_is_retryable() -> None:
    async with aiohttp.ClientSession() as session:
        dead = HttpClient(session, base_url="http://127.0.0.1:9")
        with pytest.raises(RetryableError, match="failed"):
            await http_request(HttpRequestParams(url="/x", timeout_s=2), ctx(dead))


def test_two_bodies_are_rejected() -> None:
    with pytest.raises(ValueError, match="at most one"):
        HttpRequestParams.model_validate({"url": "/x", "json": {}, "body": "b"})


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("12") == 12
    assert parse_retry_after(None) is None
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0



async def test_untrusted_certificate_is_fatal_with_a_hint(emulator: RunningEmulator) -> None:
    strict = ssl.create_default_context()  # the system store, without the emulator's CA
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=strict)) as session:
        client = HttpClient(session, base_url=emulator.base_url)
        with pytest.raises(FatalError, match="ca_bundle"):
            await http_request(HttpRequestParams(url="/_emulator/health"), ctx(client))
