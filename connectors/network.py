"""What a network failure was, in words an operator can act on: where (``host:port``) and
why (connection refused, DNS, TLS verification, timeout, reset), for aiohttp's exceptions
(the connectors) and requests' (msal's transport) alike.

``describe(exc, url)`` → ``"login.example.com:443: DNS lookup failed (Name or service not
known)"``. Never includes a query string, header or body: only host, port and the cause.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import aiohttp
import requests

DEFAULT_PORTS = {"https": 443, "http": 80}
MAX_CHAIN = 8  # exceptions wrapping exceptions: how deep to look for the cause
_TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: (\d{3})([^'\"]*)")


def endpoint(url: str | None) -> str | None:
    """``host:port`` of ``url`` (the scheme's port when none is written)."""
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    return f"{parts.hostname}:{port}" if port else parts.hostname


def describe(exc: BaseException, url: str | None = None) -> str:
    """``host:port: cause`` (just the cause when the address is unknown); a proxy that
    cannot be reached is named as such: ``host:port: proxy 10.0.0.5:3128 unreachable: …``."""
    proxy = _proxy_failure(exc)
    where = (endpoint(url) or _address(exc)) if proxy else (_address(exc) or endpoint(url))
    cause = network_cause(exc)
    if proxy is not None and _proxy_refusal_in(exc) is None:
        cause = f"proxy {proxy} unreachable: {cause}" if proxy else f"proxy unreachable: {cause}"
    return f"{where}: {cause}" if where else cause


def _proxy_failure(exc: BaseException) -> str | None:
    """For a failure to use a proxy: its ``host:port`` ("" when unknown); else None."""
    chain = list(_chain(exc))
    if not any(isinstance(link, aiohttp.ClientProxyConnectionError)
               or type(link).__name__ == "ProxyError" for link in chain):
        return None
    for link in chain:
        if isinstance(link, aiohttp.ClientProxyConnectionError):
            return f"{link.host}:{link.port}"
        conn = getattr(link, "conn", None)  # urllib3's NewConnectionError: to the proxy
        if conn is not None and getattr(conn, "host", None):
            return f"{conn.host}:{conn.port}"
    return ""


def _proxy_refusal_in(exc: BaseException) -> str | None:
    return next((r for r in map(_proxy_refusal, _chain(exc)) if r), None)


def network_cause(exc: BaseException) -> str:
    """Why a connection failed: refused, DNS, TLS verification, timeout, reset, or the
    innermost exception's type and text."""
    chain = list(_chain(exc))
    for link in chain:
        cause = _known_cause(link)
        if cause:
            return cause
    inner = chain[-1]
    text = str(inner).strip()
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


def _proxy_refusal(exc: BaseException) -> str | None:
    """A proxy that would not open the tunnel: aiohttp's error, or urllib3's text."""
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        status, reason = exc.status, exc.message
    else:
        match = _TUNNEL_REFUSED.search(str(exc))
        if match is None:
            return None
        status, reason = int(match[1]), match[2].strip()
    hint = "; check the proxy's username and password" if status in (401, 407) else ""
    return f"the proxy refused the connection (HTTP {status} {reason}{hint})".replace(" )", ")")


def _known_cause(exc: BaseException) -> str | None:
    refusal = _proxy_refusal(exc)
    if refusal:
        return refusal
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return _known_cause(exc.certificate_error) or "TLS certificate not trusted"
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = str(getattr(exc, "verify_message", None) or exc).rstrip(".")
        return f"TLS certificate not trusted ({detail}; set ca_bundle to the CA's PEM file)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    if isinstance(exc, socket.gaierror):
        return f"DNS lookup failed ({exc.strerror or exc})"
    if type(exc).__name__ == "NameResolutionError":  # urllib3's, wrapping a gaierror
        return "DNS lookup failed"
    if isinstance(exc, asyncio.TimeoutError | requests.Timeout | aiohttp.ServerTimeoutError):
        return "timed out"
    if type(exc).__name__ in ("ConnectTimeoutError", "ReadTimeoutError"):  # urllib3's
        return "timed out"
    if isinstance(exc, ConnectionResetError | aiohttp.ServerDisconnectedError):
        return "connection reset by the server"
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: ``__cause__``/``__context__``, aiohttp's ``os_error``,
    urllib3's ``reason``, and exceptions passed as arguments (requests wraps that way)."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < MAX_CHAIN:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(_wrapped(current))


def _wrapped(exc: BaseException) -> list[BaseException]:
    candidates = [exc.__cause__, exc.__context__, getattr(exc, "os_error", None),
                  getattr(exc, "reason", None), *exc.args]
    return [c for c in candidates if isinstance(c, BaseException)]


def _address(exc: BaseException) -> str | None:
    for link in _chain(exc):
        host, port = getattr(link, "host", None), getattr(link, "port", None)
        if isinstance(host, str) and isinstance(port, int):
            return f"{host}:{port}"
        request = getattr(link, "request", None)
        url = getattr(request, "url", None)
        if isinstance(url, str):
            return endpoint(url)
        pool = getattr(link, "pool", None)
        if pool is not None and getattr(pool, "host", None):
            return f"{pool.host}:{pool.port}"
    return None
