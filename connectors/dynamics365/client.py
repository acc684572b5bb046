"""The async Dataverse Web API client: one pooled aiohttp session per connection.

Every request carries the OData headers and a bearer token from the connection's
:class:`~connectors.auth.tokens.TokenProvider`; goes through the connection's
:class:`~connectors.dynamics365.throttle.ConnectionThrottle`; is retried by
:mod:`~connectors.dynamics365.retry`; and fails only with the project's exceptions
(:mod:`~connectors.dynamics365.errors`). A 401 renews the token once and resends; a second
401 is an ``AuthError``.

:meth:`DataverseClient.paginate` streams pages over ``@odata.nextLink`` without changing the
link, fetching the next page while the caller works on the current one (so at most two pages
are in memory), and raises ``FatalError`` when a nextLink repeats (a paging loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import quote

import aiohttp
from yarl import URL

from connectors.dynamics365.errors import error_from_exception, error_from_response
from connectors.dynamics365.odata import string_literal
from connectors.dynamics365.retry import RetryPolicy, with_retries
from connectors.dynamics365.throttle import ConnectionThrottle, ThrottleSettings
from connectors.errors import AuthError, FatalError, RetryableError

ODATA_HEADERS = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}
QUERY_SAFE = "$',()/:@"  # kept verbatim in query values; everything else is percent-encoded
MAX_PAGE_SIZE = 5000


class AccessTokens(Protocol):
    """The shape of ``connectors.auth.tokens.TokenProvider`` this client relies on."""

    async def access_token(self, *, force_refresh: bool = False) -> str: ...


class ClientHooks(Protocol):
    """Observers of a client's traffic, e.g. the daemon's metrics (passed in by the caller,
    so the connector never imports them)."""

    def throttled(self) -> None:
        """The service answered 429."""

    def retried(self) -> None:
        """A request is about to be retried after a temporary error."""


class NoHooks:
    def throttled(self) -> None:
        pass

    def retried(self) -> None:
        pass


def api_base_url(environment_url: str, api_version: Literal[8, 9] | str = 9) -> str:
    """``https://<env>/api/data/v9.2/`` (or ``v8.2``) from an environment URL."""
    version = f"v{api_version}.2" if str(api_version) in ("8", "9") else str(api_version)
    return f"{environment_url.rstrip('/')}/api/data/{version}/"


def encode_query(params: Mapping[str, str | int]) -> str:
    """``$filter=name eq 'a&b'`` as ``%24filter=name%20eq%20'a%26b'``: values can't add options."""
    return "&".join(f"{quote(str(k), safe='$')}={quote(str(v), safe=QUERY_SAFE)}"
                    for k, v in params.items())


@dataclass(frozen=True)
class DataverseResponse:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON, or None for an empty body

    @property
    def server_time(self) -> datetime | None:
        """The ``Date`` header: the service's clock, never the daemon's."""
        return parse_http_date(self.headers.get("Date"))


@dataclass(frozen=True)
class ODataPage:
    rows: list[dict[str, Any]]
    next_link: str | None
    delta_link: str | None
    server_time: datetime | None


def parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


class DataverseClient:
    """Requests to one environment's Web API, sharing a session, a throttle and a token."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, tokens: AccessTokens, *,
                 throttle: ConnectionThrottle | None = None, retry: RetryPolicy | None = None,
                 owns_session: bool = False, hooks: ClientHooks | None = None) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/") + "/"
        self.tokens = tokens
        self.throttle = throttle or ConnectionThrottle()
        self.retry = retry or RetryPolicy()
        self._owns_session = owns_session
        self.hooks: ClientHooks = hooks or NoHooks()
        self._renew_lock = asyncio.Lock()
        self.primary_keys: dict[str, str] = {}  # entity set -> primary id column (cache)

    @classmethod
    def open(cls, base_url: str, tokens: AccessTokens, *, ca_bundle: Path | str | None = None,
             throttle: ThrottleSettings | None = None, retry: RetryPolicy | None = None,
             timeout_s: float = 120.0, hooks: ClientHooks | None = None) -> DataverseClient:
        """A client with its own pooled session (trusting ``ca_bundle`` when given)."""
        context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
        limit = (throttle or ThrottleSettings()).max_concurrent
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, limit=limit),
            timeout=aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(30.0, timeout_s)))
        return cls(session, base_url, tokens, throttle=ConnectionThrottle(throttle),
                   retry=retry, owns_session=True, hooks=hooks)

    async def close(self) -> None:
        if self._owns_session:
            await self.session.close()

    async def __aenter__(self) -> DataverseClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def url(self, path: str, params: Mapping[str, str | int] | None = None) -> str:
        """An absolute URL: ``path`` relative to the Web API root, or absolute as given."""
        url = path if path.startswith(("https://", "http://")) else self.base_url + path.lstrip("/")
        if params:
            url += ("&" if "?" in url else "?") + encode_query(params)
        return url

    async def request(self, method: str, path: str, *,
                      params: Mapping[str, str | int] | None = None, json_body: Any = None,
                      headers: Mapping[str, str] | None = None) -> DataverseResponse:
        """Send with retries; a 2xx response, or one of the project's exceptions."""
        url = self.url(path, params)
        return await with_retries(lambda: self._attempt(method, url, json_body, headers),
                                  self.retry, self._on_retry)

    async def get_json(self, path: str, params: Mapping[str, str | int] | None = None,
                       headers: Mapping[str, str] | None = None) -> Any:
        return (await self.request("GET", path, params=params, headers=headers)).body

    async def paginate(self, path: str, params: Mapping[str, str | int] | None = None,
                       page_size: int | None = None,
                       headers: Mapping[str, str] | None = None) -> AsyncIterator[ODataPage]:
        """Every page of a collection query, in order, following ``@odata.nextLink``."""
        page_headers = dict(headers or {})
        if page_size is not None:
            size = max(1, min(int(page_size), MAX_PAGE_SIZE))
            page_headers["Prefer"] = _add_preference(page_headers.get("Prefer"),
                                                     f"odata.maxpagesize={size}")
        seen_links: set[bytes] = set()
        fetch: asyncio.Task[ODataPage] | None = asyncio.create_task(
            self._page(self.url(path, params), page_headers))
        try:
            while fetch is not None:
                page = await fetch
                fetch = None
                if page.next_link:
                    _check_loop(page.next_link, seen_links)
                    fetch = asyncio.create_task(self._page(page.next_link, page_headers))
                    await asyncio.sleep(0)  # let it send the request before the caller works
                yield page
        finally:
            if fetch is not None:
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await fetch

    async def _page(self, url: str, headers: Mapping[str, str]) -> ODataPage:
        response = await with_retries(lambda: self._attempt("GET", url, None, headers),
                                      self.retry, self._on_retry)
        body = response.body
        if not isinstance(body, dict) or not isinstance(body.get("value"), list):
            raise FatalError(f"Dataverse answered a collection query without a value list: {url}")
        return ODataPage(body["value"], body.get("@odata.nextLink"),
                         body.get("@odata.deltaLink"), response.server_time)

    async def _attempt(self, method: str, url: str, json_body: Any,
                       headers: Mapping[str, str] | None) -> DataverseResponse:
        token = await self.tokens.access_token()
        response = await self._send(method, url, token, json_body, headers)
        if response.status == 401:
            token = await self._renew(token)
            response = await self._send(method, url, token, json_body, headers)
            if response.status == 401:
                raise _as_error(response)
        if response.status >= 400:
            if response.status == 429:
                self.hooks.throttled()
            error = _as_error(response)
            if isinstance(error, RetryableError) and response.status == 429 \
                    and error.retry_after_s is not None:
                self.throttle.pause(error.retry_after_s)
            raise error
        return response

    async def _on_retry(self, _error: RetryableError, _attempt: int, _delay_s: float) -> None:
        self.hooks.retried()

    async def _renew(self, rejected: str) -> str:
        """One forced renewal for all callers that saw the same token rejected."""
        async with self._renew_lock:
            current = await self.tokens.access_token()
            if current != rejected:
                return current  # another caller already renewed it
            return await self.tokens.access_token(force_refresh=True)

    async def _send(self, method: str, url: str, token: str, json_body: Any,
                    headers: Mapping[str, str] | None) -> DataverseResponse:
        all_headers = {**ODATA_HEADERS, "Authorization": f"Bearer {token}", **(headers or {})}
        data = None
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode()
            all_headers["Content-Type"] = "application/json"
        if method == "GET":
            all_headers.setdefault("If-None-Match", "null")
        async with self.throttle.slot():
            try:
                async with self.session.request(method, URL(url, encoded=True), data=data,
                                                headers=all_headers) as resp:
                    raw = await resp.read()
                    status, response_headers = resp.status, resp.headers
                    self.throttle.observe(status, response_headers.get("Retry-After"))
            except Exception as exc:
                mapped = error_from_exception(exc)
                if mapped is None:
                    raise
                raise mapped from exc
        return _response(status, response_headers, raw)

    async def primary_key(self, entity_set: str) -> str:
        """The primary id column of a table, from ``EntityDefinitions`` (cached)."""
        if entity_set not in self.primary_keys:
            body = await self.get_json("EntityDefinitions", {
                "$select": "PrimaryIdAttribute,LogicalName,EntitySetName",
                "$filter": f"EntitySetName eq {string_literal(entity_set)}"})
            rows = body.get("value") if isinstance(body, dict) else None
            if not rows:
                raise FatalError(f"Dataverse has no table with entity set {entity_set!r}",
                                 status=404)
            self.primary_keys[entity_set] = str(rows[0]["PrimaryIdAttribute"])
        return self.primary_keys[entity_set]


def _response(status: int, headers: Mapping[str, str], raw: bytes) -> DataverseResponse:
    if status >= 400 or not raw:
        return DataverseResponse(status, headers, raw.decode("utf-8", "replace") if raw else None)
    try:
        return DataverseResponse(status, headers, json.loads(raw))
    except ValueError as exc:  # a proxy's HTML page, or a body cut short
        raise RetryableError(f"Dataverse answered {status} with a body that is not JSON",
                             status=status) from exc


def _as_error(response: DataverseResponse) -> AuthError | FatalError | RetryableError:
    text = response.body if isinstance(response.body, str) else ""
    error = error_from_response(response.status, response.headers, text)
    assert isinstance(error, AuthError | FatalError | RetryableError)
    return error


def _check_loop(next_link: str, seen: set[bytes]) -> None:
    digest = hashlib.blake2b(next_link.encode(), digest_size=16).digest()
    if digest in seen:
        raise FatalError(f"Dataverse paging loops: the nextLink {next_link[:200]} came twice")
    seen.add(digest)


def _add_preference(existing: str | None, preference: str) -> str:
    return f"{existing},{preference}" if existing else preference
