"""Posting one execution context to a webhook endpoint, as Dataverse's webhook service does.

The endpoint's authentication goes along (HttpHeader pairs as headers, WebhookKey as
``?code=``, HttpQueryString pairs in the query), with the ``x-ms-dynamics-*`` headers. A
2xx is success; a 502, 503 or 504 (or no answer at all) gets one more attempt at once; the
timeout is 60 s. https endpoints are verified against the CA file the emulator was given
(``--webhook-ca``, or the control plane's settings) or the system's; http is allowed only to
loopback addresses, since nothing else is reachable from a test.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from emulator.dataverse.pipeline.registrations import HTTP_HEADER, Endpoint

RETRY_ONCE = frozenset({502, 503, 504})


@dataclass
class Settings:
    ca_file: str | None = None
    timeout_s: float = 60.0
    # After a failed attempt (and its one immediate retry), the asynchronous service tries
    # the job again after each of these delays, then marks it Failed.
    retry_delays_s: tuple[float, ...] = (1.0, 5.0, 30.0)
    max_concurrency: int = 16


@dataclass
class Outcome:
    status: int | None  # None: no HTTP answer
    error: str | None
    attempts: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def is_loopback(host: str | None) -> bool:
    if host in (None, ""):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def request_url(endpoint: Endpoint) -> URL:
    url = URL(endpoint.url)
    if endpoint.authtype == HTTP_HEADER:
        return url
    pairs = endpoint.auth_pairs()
    return url.update_query(dict(pairs)) if pairs else url


def auth_headers(endpoint: Endpoint) -> dict[str, str]:
    return dict(endpoint.auth_pairs()) if endpoint.authtype == HTTP_HEADER else {}


@dataclass
class Sender:
    settings: Settings
    _session: aiohttp.ClientSession | None = field(default=None, init=False)
    _ssl: ssl.SSLContext | None = field(default=None, init=False)

    def reset_tls(self) -> None:
        self._ssl = None

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context(cafile=self.settings.ca_file)
        return self._ssl

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
            self._session = aiohttp.ClientSession(timeout=timeout, trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, endpoint: Endpoint, headers: dict[str, str], body: bytes) -> Outcome:
        """One attempt, and one more when the first had no answer or a 502/503/504."""
        first = await self._attempt(endpoint, headers, body)
        if first.ok or (first.status is not None and first.status not in RETRY_ONCE):
            return first
        second = await self._attempt(endpoint, headers, body)
        return Outcome(second.status, second.error, 2)

    async def _attempt(self, endpoint: Endpoint, headers: dict[str, str],
                       body: bytes) -> Outcome:
        url = request_url(endpoint)
        scheme, host = urlsplit(endpoint.url).scheme, urlsplit(endpoint.url).hostname
        if scheme not in ("https", "http") or (scheme == "http" and not is_loopback(host)):
            return Outcome(None, f"the endpoint URL must be https (or http to loopback), not "
                                 f"{scheme}://{host}", 1)
        try:
            async with self._client().post(
                    url, data=body, headers={**headers, **auth_headers(endpoint)},
                    ssl=self._context() if scheme == "https" else False) as resp:
                await resp.read()
                error = None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
                return Outcome(resp.status, error, 1)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Outcome(None, f"{type(exc).__name__}: {exc}", 1)
