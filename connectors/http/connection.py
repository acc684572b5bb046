"""The ``http`` connection type: a pooled aiohttp session with the connection's base URL,
auth headers, CA bundle and proxy; steps that name no connection get one without them."""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp

from connectors.base import ClientContext, ConnectionTypeSpec
from connectors.http.client import HttpClient


@dataclass
class HttpConnectionClient(HttpClient):
    """An :class:`HttpClient` that owns its session."""

    async def close(self) -> None:
        await self.session.close()


def http_auth_headers(conn: Any) -> dict[str, str]:
    """The headers an ``http`` connection's ``auth`` adds to every request."""
    if conn.auth == "basic" and conn.username and conn.password:
        pair = f"{conn.username}:{conn.password.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    if conn.auth == "bearer" and conn.token:
        return {"Authorization": f"Bearer {conn.token.get_secret_value()}"}
    if conn.auth == "header" and conn.header_name and conn.header_value:
        return {conn.header_name: conn.header_value.get_secret_value()}
    return {}


def http_client(ctx: ClientContext) -> HttpConnectionClient:
    conn = ctx.settings
    ca_bundle = getattr(conn, "ca_bundle", None)
    ssl_ctx: ssl.SSLContext | bool = (ssl.create_default_context(cafile=str(ca_bundle))
                                      if ca_bundle else True)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_ctx, limit=64),
                                    middlewares=(ctx.proxy.aiohttp_middleware(),))
    if conn is None:
        return HttpConnectionClient(session)
    return HttpConnectionClient(session, base_url=str(conn.base_url),
                                headers=http_auth_headers(conn),
                                allowed_hosts=tuple(getattr(conn, "allowed_hosts", ())))


HTTP_CONNECTION = ConnectionTypeSpec(
    key="http", client=http_client, anonymous=True,
    summary="A plain HTTP(S) service: base URL, auth headers, CA bundle, proxy")
