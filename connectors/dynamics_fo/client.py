"""The async F&O OData client: one pooled aiohttp session per connection.

Every request carries the OData headers and a bearer token from the connection's token
provider (scope ``<environment>/.default``); goes through the connection's
:class:`~connectors.dynamics365.throttle.ConnectionThrottle` (a 429's ``Retry-After`` pauses
every caller on the connection); is retried by :mod:`~connectors.dynamics365.retry`; and fails
only with the project's exceptions (:mod:`~connectors.dynamics_fo.errors`). A 401 renews the
token once and resends; a second 401 is an ``AuthError``.

The client also carries the connection's company defaults (``data_area``, ``cross_company``)
that triggers and actions inherit (see :mod:`~connectors.dynamics_fo.company`).
:meth:`FoClient.paginate` follows ``@odata.nextLink`` (F&O's carry ``$skip``) unchanged and
raises ``FatalError`` when a link repeats (a paging loop).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from connectors.dynamics365.client import AccessTokens, encode_query, parse_http_date
from connectors.dynamics365.retry import RetryPolicy, with_retries
from connectors.dynamics365.throttle import ConnectionThrottle, ThrottleSettings
from connectors.dynamics_fo.errors import error_from_exception, error_from_response
from connectors.errors import AuthError, FatalError, RetryableError

ODATA_HEADERS = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}
Query = Mapping[str, str | int]


@dataclass(frozen=True)
class FoResponse:
    status: int
    headers: Mapping[str, str]
    raw: bytes
    body: Any  # parsed JSON, or None for an empty or non-JSON body

    @property
    def server_time(self) -> datetime | None:
        """The ``Date`` header: the service's clock, never the daemon's."""
        return parse_http_date(self.headers.get("Date"))


@dataclass(frozen=True)
class FoPage:
    rows: list[dict[str, Any]]
    next_link: str | None
    server_time: datetime | None


@dataclass(frozen=True)
class Outgoing:
    """One request as sent: absolute URL, extra headers, body bytes and their type."""

    method: str
    url: str
    headers: Mapping[str, str]
    data: bytes | None = None
    content_type: str | None = None


class FoClient:
    """Requests to one F&O environment's ``/data/`` service, sharing session, throttle, token."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, tokens: AccessTokens, *,
                 throttle: ConnectionThrottle | None = None, retry: RetryPolicy | None = None,
                 data_area: str | None = None, cross_company: bool = False,
                 owns_session: bool = False) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/") + "/"
        self.tokens = tokens
        self.throttle = throttle or ConnectionThrottle()
        self.retry = retry or RetryPolicy()
        self.data_area = data_area.lower() if data_area else None
        self.cross_company = cross_company
        self._owns_session = owns_session
        self._renew_lock = asyncio.Lock()
        self.cache: dict[str, Any] = {}  # per-connection caches (e.g. parsed $metadata)

    @classmethod
    def open(cls, base_url: str, tokens: AccessTokens, *, ca_bundle: Path | str | None = None,
             throttle: ThrottleSettings | None = None, retry: RetryPolicy | None = None,
             data_area: str | None = None, cross_company: bool = False,
             timeout_s: float = 120.0) -> FoClient:
        """A client with its own pooled session (trusting ``ca_bundle`` when given)."""
        context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
        limit = (throttle or ThrottleSettings()).max_concurrent
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, limit=limit),
            timeout=aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(30.0, timeout_s)))
        return cls(session, base_url, tokens, throttle=ConnectionThrottle(throttle),
                   retry=retry, data_area=data_area, cross_company=cross_company,
                   owns_session=True)

    async def close(self) -> None:
        if self._owns_session:
            await self.session.close()

    async def __aenter__(self) -> FoClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def url(self, path: str, params: Query | None = None) -> str:
        """An absolute URL: ``path`` relative to ``/data/``, or absolute as given."""
        url = path if path.startswith(("https://", "http://")) else self.base_url + path.lstrip("/")
        if params:
            url += ("&" if "?" in url else "?") + encode_query(params)
        return url

    async def request(self, method: str, path: str, *, params: Query | None = None,
                      json_body: Any = None, headers: Mapping[str, str] | None = None,
                      data: bytes | None = None, content_type: str | None = None
                      ) -> FoResponse:
        """Send with retries; a 2xx response, or one of the project's exceptions."""
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode()
            content_type = "application/json"
        outgoing = Outgoing(method, self.url(path, params), headers or {}, data, content_type)
        return await with_retries(lambda: self._attempt(outgoing), self.retry)

    async def get_json(self, path: str, params: Query | None = None) -> Any:
        return (await self.request("GET", path, params=params)).body

    async def paginate(self, path: str, params: Query | None = None) -> AsyncIterator[FoPage]:
        """Every page of a collection query, in order, following ``@odata.nextLink``."""
        seen_links: set[bytes] = set()
        url: str | None = self.url(path, params)
        while url is not None:
            response = await self.request("GET", url)
            body = response.body
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise FatalError(f"F&O answered a collection query without a value list: {url}")
            url = body.get("@odata.nextLink")
            if url is not None:
                _check_loop(url, seen_links)
            yield FoPage(body["value"], url, response.server_time)

    async def _attempt(self, outgoing: Outgoing) -> FoResponse:
        token = await self.tokens.access_token()
        response = await self._send(outgoing, token)
        if response.status == 401:
            token = await self._renew(token)
            response = await self._send(outgoing, token)
            if response.status == 401:
                raise _as_error(response)
        if response.status >= 400 and not _is_multipart(response):
            error = _as_error(response)
            if isinstance(error, RetryableError) and response.status == 429 \
                    and error.retry_after_s is not None:
                self.throttle.pause(error.retry_after_s)
            raise error
        return response

    async def _renew(self, rejected: str) -> str:
        """One forced renewal for all callers that saw the same token rejected."""
        async with self._renew_lock:
            current = await self.tokens.access_token()
            if current != rejected:
                return current  # another caller already renewed it
            return await self.tokens.access_token(force_refresh=True)

    async def _send(self, outgoing: Outgoing, token: str) -> FoResponse:
        headers = {**ODATA_HEADERS, "Authorization": f"Bearer {token}", **outgoing.headers}
        if outgoing.content_type:
            headers["Content-Type"] = outgoing.content_type
        async with self.throttle.slot():
            try:
                async with self.session.request(outgoing.method, URL(outgoing.url, encoded=True),
                                                data=outgoing.data, headers=headers) as resp:
                    raw = await resp.read()
                    status, response_headers = resp.status, resp.headers
                    self.throttle.observe(status, response_headers.get("Retry-After"))
            except Exception as exc:
                mapped = error_from_exception(exc)
                if mapped is None:
                    raise
                raise mapped from exc
        return _response(status, response_headers, raw)


def _response(status: int, headers: Mapping[str, str], raw: bytes) -> FoResponse:
    if status >= 400 or not raw or "json" not in headers.get("Content-Type", "json"):
        return FoResponse(status, headers, raw, None)
    try:
        return FoResponse(status, headers, raw, json.loads(raw))
    except ValueError as exc:  # a proxy's HTML page, or a body cut short
        raise RetryableError(f"F&O answered {status} with a body that is not JSON",
                             status=status) from exc


def _is_multipart(response: FoResponse) -> bool:
    return response.headers.get("Content-Type", "").startswith("multipart/")


def _as_error(response: FoResponse) -> AuthError | FatalError | RetryableError:
    error = error_from_response(response.status, response.headers,
                                response.raw.decode("utf-8", "replace"))
    assert isinstance(error, AuthError | FatalError | RetryableError)
    return error


def _check_loop(next_link: str, seen: set[bytes]) -> None:
    digest = hashlib.blake2b(next_link.encode(), digest_size=16).digest()
    if digest in seen:
        raise FatalError(f"F&O paging loops: the nextLink {next_link[:200]} came twice")
    seen.add(digest)
