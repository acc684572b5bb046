"""``connections login``: the authorization code grant with PKCE and a loopback listener.

msal builds the sign-in URL (``initiate_auth_code_flow``: state, nonce, S256 challenge); a
small aiohttp server on the connection's ``redirect_uri`` receives the browser's redirect (or
form post); msal exchanges the code. The new cache replaces the stored one, so a running
daemon sees a new version and resumes the connection. Works for Entra ID and AD FS alike.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msal
from aiohttp import web

from connectors.auth import close_msal_app
from connectors.errors import AuthError, ConnectorError, RecipeError
from runner.connections import DynamicsConnectionBase
from runner.store import ConnectionStatus
from runner.tokens import flows
from runner.tokens.classify import classify_exception, classify_result
from runner.tokens.persist import CacheStore

DONE_PAGE = ("<!doctype html><title>recipe-runner</title>"
             "<p>Signed in. You can close this window.</p>")
FAILED_PAGE = "<!doctype html><title>recipe-runner</title><p>Sign-in failed: {error}.</p>"


@dataclass(frozen=True)
class SignedIn:
    """Who signed in (from the id token's claims; no token is kept here)."""

    username: str | None
    version: int


async def login(name: str, conn: DynamicsConnectionBase, caches: CacheStore, *,
                show_url: Callable[[str], None], timeout_s: float = 300.0,
                timeout_per_request_s: float = 30.0) -> SignedIn:
    """Sign ``name`` in interactively; raises ``AuthError``/``RetryableError``/``RecipeError``."""
    if conn.auth != "authorization_code" or not conn.redirect_uri:
        raise RecipeError(f"connection {name}: login needs auth: authorization_code "
                          "and a redirect_uri")
    cache = msal.SerializableTokenCache()
    app = await _guarded(name, asyncio.to_thread(flows.connection_app, conn, cache,
                                                 timeout_per_request_s))
    try:
        # form_post keeps the code out of URLs (browser history, logs); RFC 9700 §4.3.1
        flow = await asyncio.to_thread(app.initiate_auth_code_flow, conn.scopes,
                                       redirect_uri=conn.redirect_uri,
                                       response_mode="form_post")
        async with _listener(conn.redirect_uri) as received:
            show_url(str(flow["auth_uri"]))
            auth_response = await asyncio.wait_for(received, timeout_s)
        result = await _guarded(name, asyncio.to_thread(
            app.acquire_token_by_auth_code_flow, flow, auth_response))
    finally:
        close_msal_app(app)
    if "access_token" not in result:
        raise classify_result(name, conn.auth, result)
    version = await caches.replace(cache)
    await caches.store.set_connection_state(name, ConnectionStatus.OK, None)
    claims = result.get("id_token_claims") or {}
    return SignedIn(claims.get("preferred_username") or claims.get("upn"), version)


async def _guarded(name: str, call: Any) -> Any:
    try:
        return await call
    except ValueError as exc:  # msal: state mismatch, or an error redirect it rejects
        if "JSON" in str(exc) or type(exc).__name__ == "JSONDecodeError":
            raise classify_exception(name, exc) from None
        raise AuthError(f"connection {name}: the sign-in response was rejected ({exc})",
                        connection=name) from None
    except Exception as exc:
        mapped: ConnectorError | None = classify_exception(name, exc)
        if mapped is None:
            raise
        raise mapped from None


@asynccontextmanager
async def _listener(redirect_uri: str) -> AsyncIterator[asyncio.Future[dict[str, str]]]:
    """Serve ``redirect_uri`` until the first callback; yields the future of its parameters."""
    parts = urlsplit(redirect_uri)
    received: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

    async def callback(request: web.Request) -> web.Response:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        if not received.done():
            received.set_result(params)
        page = DONE_PAGE
        if "error" in params:
            page = FAILED_PAGE.format(error=html.escape(params["error"]))
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_route("GET", parts.path or "/", callback)
    app.router.add_route("POST", parts.path or "/", callback)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, parts.hostname, parts.port).start()
        yield received
    finally:
        await runner.cleanup()
