"""The async OData client both Dynamics 365 connectors build on: one pooled aiohttp session
per connection.

Every request carries the OData headers and a bearer token from the connection's
:class:`AccessTokens`; goes through the connection's
:class:`~connectors.odata.throttle.ConnectionThrottle` (a 429's ``Retry-After`` pauses every
caller on the connection); is retried by :mod:`~connectors.odata.retry`; and fails only with
the project's exceptions (:mod:`~connectors.odata.errors`). A 401 renews the token once and
resends; a second 401 is an ``AuthError``.

A connector's client subclasses :class:`ODataClient` and adds what is its own: the service's
name, its response type and error bodies, its URL shapes and its paging.
"""

from __future__ import annotations

import asyncio
import io
import json
import ssl
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar
from urllib.parse import quote

import aiohttp
import msgspec
from yarl import URL

from connectors.base import StepContext
from connectors.errors import AuthError, ConnectorError, FatalError, RecipeError, RetryableError
from connectors.odata.errors import transport_error
from connectors.odata.retry import NotingResends, RetryPolicy, with_retries
from connectors.odata.throttle import ConnectionThrottle, ThrottleSettings
from connectors.proxy import ProxyPolicy

ODATA_HEADERS = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}
LARGE_BODY_BYTES = 1024 * 1024  # aiohttp sends larger bodies from a stream, not in one write
QUERY_SAFE = "$',()/:@"  # kept verbatim in query values; everything else is percent-encoded
Query = Mapping[str, str | int]
# Response bodies (pages of up to 5,000 rows) are decoded by msgspec: the same Python values
# as ``json.loads``, in about 60% of its time; a malformed body raises a ``ValueError``.
decode_json = msgspec.json.Decoder().decode


class ODataResponse(Protocol):
    """What every connector's response type offers."""

    @property
    def body(self) -> Any:
        """The parsed JSON body, or None."""

    @property
    def server_time(self) -> datetime | None:
        """The ``Date`` header: the service's clock, never the daemon's."""


ResponseT = TypeVar("ResponseT", bound=ODataResponse)


class AccessTokens(Protocol):
    """The shape of ``connectors.auth.tokens.TokenProvider`` this client relies on."""

    async def access_token(self, *, force_refresh: bool = False) -> str: ...


class ClientHooks(Protocol):
    """Observers of a client's traffic, e.g. the daemon's metrics (passed in by the caller,
    so the connector never imports them)."""

    def throttled(self) -> None:
        """The service answered 429."""

    def retried(self, error: RetryableError, attempt: int, delay_s: float) -> None:
        """A request is about to be retried (after ``attempt`` tries, in ``delay_s``)
        after the temporary ``error``."""


class NoHooks:
    def throttled(self) -> None:
        pass

    def retried(self, error: RetryableError, attempt: int, delay_s: float) -> None:
        pass


def encode_query(params: Query) -> str:
    """``$filter=name eq 'a&b'`` as ``%24filter=name%20eq%20'a%26b'``: values can't add options."""
    return "&".join(f"{quote(str(k), safe='$')}={quote(str(v), safe=QUERY_SAFE)}"
                    for k, v in params.items())


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP ``Date`` header as a datetime; None when missing or unreadable."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def pooled_session(ca_bundle: Path | str | None, throttle: ThrottleSettings | None,
                   timeout_s: float, proxy: ProxyPolicy | None = None) -> aiohttp.ClientSession:
    """A session trusting ``ca_bundle`` (when given), pooling as many connections as the
    throttle lets requests run at once, routed by ``proxy`` (None: the environment's
    ``HTTPS_PROXY``/``NO_PROXY``)."""
    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    limit = (throttle or ThrottleSettings()).max_concurrent
    policy = proxy if proxy is not None else ProxyPolicy.from_environ()
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=context, limit=limit),
        timeout=aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(30.0, timeout_s)),
        middlewares=(policy.aiohttp_middleware(),))


@dataclass(frozen=True)
class Outgoing:
    """One request as sent: absolute URL, extra headers, body bytes and their type."""

    method: str
    url: str
    headers: Mapping[str, str]
    data: bytes | None = None
    content_type: str | None = None

    @classmethod
    def build(cls, method: str, url: str, headers: Mapping[str, str] | None = None, *,
              json_body: Any = None, data: bytes | None = None,
              content_type: str | None = None) -> Outgoing:
        """A request; ``json_body``, when given, is sent compact as ``application/json``."""
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode()
            content_type = "application/json"
        return cls(method, url, headers or {}, data, content_type)


class ODataClient(ABC, Generic[ResponseT]):
    """Requests to one service root, sharing a session, a throttle and a token."""

    service: ClassVar[str]  # the service's name in messages: "Dataverse", "F&O"
    connection_type: ClassVar[str]  # the connection type recipes name: "dynamics365", …

    def __init__(self, session: aiohttp.ClientSession, base_url: str, tokens: AccessTokens, *,
                 throttle: ConnectionThrottle | None = None, retry: RetryPolicy | None = None,
                 owns_session: bool = False, hooks: ClientHooks | None = None) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/") + "/"
        self.tokens = tokens
        self.throttle = throttle or ConnectionThrottle()
        self.retry = retry or RetryPolicy()
        self.hooks: ClientHooks = hooks or NoHooks()
        self._owns_session = owns_session
        self._renew_lock = asyncio.Lock()

    @classmethod
    def of(cls, ctx: StepContext, user: str) -> Self:
        """The step's connection; ``RecipeError`` when the recipe gave another type to the
        ``user`` ("trigger", "action")."""
        if not isinstance(ctx.connection, cls):
            raise RecipeError(f"this {user} needs a {cls.connection_type} connection")
        return ctx.connection

    async def close(self) -> None:
        if self._owns_session:
            await self.session.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def url(self, path: str, params: Query | None = None) -> str:
        """An absolute URL: ``path`` relative to the service root, or absolute as given."""
        url = path if path.startswith(("https://", "http://")) else self.base_url + path.lstrip("/")
        if params:
            url += ("&" if "?" in url else "?") + encode_query(params)
        return url

    async def request(self, method: str, path: str, *, params: Query | None = None,
                      json_body: Any = None, headers: Mapping[str, str] | None = None,
                      data: bytes | None = None, content_type: str | None = None) -> ResponseT:
        """Send with retries; a 2xx response, or one of the project's exceptions."""
        return await self.send(Outgoing.build(method, self.url(path, params), headers,
                                              json_body=json_body, data=data,
                                              content_type=content_type))

    async def get_json(self, path: str, params: Query | None = None,
                       headers: Mapping[str, str] | None = None) -> Any:
        return (await self.request("GET", path, params=params, headers=headers)).body

    async def send(self, outgoing: Outgoing) -> ResponseT:
        """Send ``outgoing`` with retries; a 2xx response, or one of the project's exceptions."""
        return await with_retries(lambda: self._attempt(outgoing), self.retry, self._on_retry)

    async def send_noting_resends(self, outgoing: Outgoing) -> tuple[ResponseT, bool]:
        """Like :meth:`send`, and whether the answer is to a copy sent again after an attempt
        whose outcome is unknown (an earlier copy may have been applied)."""
        attempt = NotingResends(lambda: self._attempt(outgoing))
        response = await with_retries(attempt, self.retry, self._on_retry)
        return response, attempt.resent

    @abstractmethod
    def _response(self, status: int, headers: Mapping[str, str], raw: bytes) -> ResponseT:
        """The response to return for an answer that is not an error."""

    @abstractmethod
    def _classify(self, status: int, headers: Mapping[str, str], text: str) -> ConnectorError:
        """The exception for an error answer whose body is ``text``."""

    def _answered_in_parts(self, headers: Mapping[str, str]) -> bool:
        """True when an error status still carries a response to return (a ``$batch``)."""
        return False

    def _headers(self, outgoing: Outgoing, token: str) -> dict[str, str]:
        headers = {**ODATA_HEADERS, "Authorization": f"Bearer {token}", **outgoing.headers}
        if outgoing.content_type:
            headers["Content-Type"] = outgoing.content_type
        return headers

    async def _attempt(self, outgoing: Outgoing) -> ResponseT:
        token = await self.tokens.access_token()
        status, headers, raw = await self._send(outgoing, token)
        if status == 401:
            token = await self._renew(token)
            status, headers, raw = await self._send(outgoing, token)
            if status == 401:
                raise self._error(status, headers, raw)
        if status >= 400 and not self._answered_in_parts(headers):
            if status == 429:
                self.hooks.throttled()
            error = self._error(status, headers, raw)
            if isinstance(error, RetryableError) and status == 429 \
                    and error.retry_after_s is not None:
                self.throttle.pause(error.retry_after_s)
            raise error
        return self._response(status, headers, raw)

    def _error(self, status: int, headers: Mapping[str, str],
               raw: bytes) -> AuthError | FatalError | RetryableError:
        error = self._classify(status, headers, raw.decode("utf-8", "replace"))
        assert isinstance(error, AuthError | FatalError | RetryableError)
        return error

    async def _on_retry(self, error: RetryableError, attempt: int, delay_s: float) -> None:
        self.hooks.retried(error, attempt, delay_s)

    async def _renew(self, rejected: str) -> str:
        """One forced renewal for all callers that saw the same token rejected."""
        async with self._renew_lock:
            current = await self.tokens.access_token()
            if current != rejected:
                return current  # another caller already renewed it
            return await self.tokens.access_token(force_refresh=True)

    async def _send(self, outgoing: Outgoing,
                    token: str) -> tuple[int, Mapping[str, str], bytes]:
        headers = self._headers(outgoing, token)
        data: bytes | io.BytesIO | None = outgoing.data
        if data is not None and len(data) > LARGE_BODY_BYTES:
            data = io.BytesIO(data)  # streamed, so a file upload never blocks the loop
        async with self.throttle.slot():
            try:
                async with self.session.request(outgoing.method, URL(outgoing.url, encoded=True),
                                                data=data, headers=headers) as resp:
                    raw = await resp.read()
                    status, response_headers = resp.status, resp.headers
                    self.throttle.observe(status, response_headers.get("Retry-After"))
            except Exception as exc:
                mapped = transport_error(self.service, exc, outgoing.url)
                if mapped is None:
                    raise
                raise mapped from exc
        return status, response_headers, raw
