"""The async F&O OData client: an :class:`~connectors.odata.client.ODataClient` (pooled
session, OData headers, bearer token renewed once on a 401, throttle, retries, the project's
exceptions) for one environment's ``/data/`` service; the token's scope is
``<environment>/.default``.

What is F&O's own: error bodies are read by :mod:`~connectors.dynamics_fo.errors` (the
``innererror`` message); a ``$batch`` answer is returned even with an error status, its parts
telling what failed; the body is parsed only when it is JSON. The client also carries the
connection's company defaults (``data_area``, ``cross_company``) that triggers and actions
inherit (see :mod:`~connectors.dynamics_fo.company`).
:meth:`FoClient.paginate` follows ``@odata.nextLink`` (F&O's carry ``$skip``) unchanged and
raises ``FatalError`` when a link repeats (a paging loop).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from connectors.dynamics_fo.errors import error_from_response
from connectors.errors import ConnectorError, RetryableError
from connectors.odata.client import (
    AccessTokens,
    ODataClient,
    Query,
    decode_json,
    parse_http_date,
    pooled_session,
)
from connectors.odata.paging import LoopGuard, page_rows
from connectors.odata.retry import RetryPolicy
from connectors.odata.throttle import ConnectionThrottle, ThrottleSettings
from connectors.proxy import ProxyPolicy


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


class FoClient(ODataClient[FoResponse]):
    """Requests to one F&O environment's ``/data/`` service, sharing session, throttle, token."""

    service = "F&O"
    connection_type = "dynamics_fo"

    def __init__(self, session: aiohttp.ClientSession, base_url: str, tokens: AccessTokens, *,
                 throttle: ConnectionThrottle | None = None, retry: RetryPolicy | None = None,
                 data_area: str | None = None, cross_company: bool = False,
                 owns_session: bool = False) -> None:
        super().__init__(session, base_url, tokens, throttle=throttle, retry=retry,
                         owns_session=owns_session)
        self.data_area = data_area.lower() if data_area else None
        self.cross_company = cross_company
        self.cache: dict[str, Any] = {}  # per-connection caches (e.g. parsed $metadata)

    @classmethod
    def open(cls, base_url: str, tokens: AccessTokens, *, ca_bundle: Path | str | None = None,
             throttle: ThrottleSettings | None = None, retry: RetryPolicy | None = None,
             data_area: str | None = None, cross_company: bool = False,
             timeout_s: float = 120.0,
             proxy: ProxyPolicy | None = None) -> FoClient:
        """A client with its own pooled session (trusting ``ca_bundle`` when given)."""
        return cls(pooled_session(ca_bundle, throttle, timeout_s, proxy), base_url, tokens,
                   throttle=ConnectionThrottle(throttle), retry=retry, data_area=data_area,
                   cross_company=cross_company, owns_session=True)

    async def paginate(self, path: str, params: Query | None = None) -> AsyncIterator[FoPage]:
        """Every page of a collection query, in order, following ``@odata.nextLink``."""
        loop_guard = LoopGuard(self.service)
        url: str | None = self.url(path, params)
        while url is not None:
            response = await self.request("GET", url)
            rows = page_rows(self.service, response.body, url)
            url = response.body.get("@odata.nextLink")
            if url is not None:
                loop_guard.check(url)
            yield FoPage(rows, url, response.server_time)

    def _response(self, status: int, headers: Mapping[str, str], raw: bytes) -> FoResponse:
        if status >= 400 or not raw or "json" not in headers.get("Content-Type", "json"):
            return FoResponse(status, headers, raw, None)
        try:
            return FoResponse(status, headers, raw, decode_json(raw))
        except ValueError as exc:  # a proxy's HTML page, or a body cut short
            raise RetryableError(f"F&O answered {status} with a body that is not JSON",
                                 status=status) from exc

    def _classify(self, status: int, headers: Mapping[str, str], text: str) -> ConnectorError:
        return error_from_response(status, headers, text)

    def _answered_in_parts(self, headers: Mapping[str, str]) -> bool:
        return headers.get("Content-Type", "").startswith("multipart/")
