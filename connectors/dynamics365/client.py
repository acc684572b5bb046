"""The async Dataverse Web API client: an :class:`~connectors.odata.client.ODataClient`
(pooled session, OData headers, bearer token renewed once on a 401, throttle, retries, the
project's exceptions) for one environment's ``/api/data/v9.2/``.

What is Dataverse's own: GETs carry ``If-None-Match: null``, error bodies are read by
:mod:`~connectors.dynamics365.errors`, and :meth:`DataverseClient.primary_key` reads a
table's id column from ``EntityDefinitions``.

:meth:`DataverseClient.paginate` streams pages over ``@odata.nextLink`` without changing the
link, fetching the next page while the caller works on the current one (so at most two pages
are in memory), and raises ``FatalError`` when a nextLink repeats (a paging loop).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import aiohttp

from connectors.dynamics365.errors import error_from_response
from connectors.errors import ConnectorError, FatalError, RetryableError
from connectors.odata.client import (
    ODATA_HEADERS,
    AccessTokens,
    ClientHooks,
    NoHooks,
    ODataClient,
    Outgoing,
    decode_json,
    encode_query,
    parse_http_date,
    pooled_session,
)
from connectors.odata.escaping import string_literal
from connectors.odata.paging import LoopGuard, page_rows
from connectors.odata.retry import RetryPolicy
from connectors.odata.throttle import ConnectionThrottle, ThrottleSettings
from connectors.proxy import ProxyPolicy

__all__ = [  # with the names other modules import from here
    "ODATA_HEADERS",
    "AccessTokens",
    "ClientHooks",
    "DataverseClient",
    "DataverseResponse",
    "NoHooks",
    "ODataPage",
    "api_base_url",
    "encode_query",
    "parse_http_date",
]

MAX_PAGE_SIZE = 5000
BINARY_TYPE = "application/octet-stream"


def api_base_url(environment_url: str, api_version: Literal[8, 9] | str = 9) -> str:
    """``https://<env>/api/data/v9.2/`` (or ``v8.2``) from an environment URL."""
    version = f"v{api_version}.2" if str(api_version) in ("8", "9") else str(api_version)
    return f"{environment_url.rstrip('/')}/api/data/{version}/"


@dataclass(frozen=True)
class DataverseResponse:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON, None for an empty body, bytes for a file's content

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


class DataverseClient(ODataClient[DataverseResponse]):
    """Requests to one environment's Web API, sharing a session, a throttle and a token."""

    service = "Dataverse"
    connection_type = "dynamics365"

    def __init__(self, session: aiohttp.ClientSession, base_url: str, tokens: AccessTokens, *,
                 throttle: ConnectionThrottle | None = None, retry: RetryPolicy | None = None,
                 owns_session: bool = False, hooks: ClientHooks | None = None) -> None:
        super().__init__(session, base_url, tokens, throttle=throttle, retry=retry,
                         owns_session=owns_session, hooks=hooks)
        self.primary_keys: dict[str, str] = {}  # entity set -> primary id column (cache)
        self.own_user_id: str | None = None  # WhoAmI's UserId, once asked

    @classmethod
    def open(cls, base_url: str, tokens: AccessTokens, *, ca_bundle: Path | str | None = None,
             throttle: ThrottleSettings | None = None, retry: RetryPolicy | None = None,
             timeout_s: float = 120.0, hooks: ClientHooks | None = None,
             proxy: ProxyPolicy | None = None) -> DataverseClient:
        """A client with its own pooled session (trusting ``ca_bundle`` when given)."""
        return cls(pooled_session(ca_bundle, throttle, timeout_s, proxy), base_url, tokens,
                   throttle=ConnectionThrottle(throttle), retry=retry, owns_session=True,
                   hooks=hooks)

    async def paginate(self, path: str, params: Mapping[str, str | int] | None = None,
                       page_size: int | None = None,
                       headers: Mapping[str, str] | None = None) -> AsyncIterator[ODataPage]:
        """Every page of a collection query, in order, following ``@odata.nextLink``."""
        page_headers = dict(headers or {})
        if page_size is not None:
            size = max(1, min(int(page_size), MAX_PAGE_SIZE))
            page_headers["Prefer"] = _add_preference(page_headers.get("Prefer"),
                                                     f"odata.maxpagesize={size}")
        loop_guard = LoopGuard(self.service)
        fetch: asyncio.Task[ODataPage] | None = asyncio.create_task(
            self._page(self.url(path, params), page_headers))
        try:
            while fetch is not None:
                page = await fetch
                fetch = None
                if page.next_link:
                    loop_guard.check(page.next_link)
                    fetch = asyncio.create_task(self._page(page.next_link, page_headers))
                    await asyncio.sleep(0)  # let it send the request before the caller works
                yield page
        finally:
            if fetch is not None:
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await fetch

    async def user_id(self) -> str:
        """This connection's own user (``WhoAmI``'s ``UserId``; an app's application user),
        asked once."""
        if self.own_user_id is None:
            body = await self.get_json("WhoAmI")
            self.own_user_id = str(body["UserId"]).lower()
        return self.own_user_id

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

    async def _page(self, url: str, headers: Mapping[str, str]) -> ODataPage:
        response = await self.send(Outgoing("GET", url, headers))
        body = response.body
        return ODataPage(page_rows(self.service, body, url), body.get("@odata.nextLink"),
                         body.get("@odata.deltaLink"), response.server_time)

    def _headers(self, outgoing: Outgoing, token: str) -> dict[str, str]:
        headers = super()._headers(outgoing, token)
        if outgoing.method == "GET":
            headers.setdefault("If-None-Match", "null")
        return headers

    def _response(self, status: int, headers: Mapping[str, str],
                  raw: bytes) -> DataverseResponse:
        if status >= 400 or not raw:
            return DataverseResponse(status, headers,
                                     raw.decode("utf-8", "replace") if raw else None)
        if headers.get("Content-Type", "").startswith(BINARY_TYPE):
            return DataverseResponse(status, headers, raw)  # a file's bytes (…/$value)
        try:
            return DataverseResponse(status, headers, decode_json(raw))
        except ValueError as exc:  # a proxy's HTML page, or a body cut short
            raise RetryableError(f"Dataverse answered {status} with a body that is not JSON",
                                 status=status) from exc

    def _classify(self, status: int, headers: Mapping[str, str], text: str) -> ConnectorError:
        return error_from_response(status, headers, text)


def _add_preference(existing: str | None, preference: str) -> str:
    return f"{existing},{preference}" if existing else preference
