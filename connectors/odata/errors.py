"""Non-2xx answers and transport failures of an OData service, as the project's exceptions.

==========================================  =========================================
what happened                               raised
==========================================  =========================================
429 (``Retry-After`` kept), 502, 503, 504   ``RetryableError(retry_after_s=…)``
timeout, connection reset, truncated body   ``RetryableError``
401                                         ``AuthError`` (the client renews once first)
any other 4xx or 5xx, 500 included          ``FatalError`` with the service's code and message
                                            (a 500 is deterministic in both services:
                                            plug-ins, duplicate detection, X++ writes)
==========================================  =========================================

Each connector reads its own service's error body into ``(code, message)`` (see
:mod:`connectors.dynamics365.errors` and :mod:`connectors.dynamics_fo.errors`) and names the
service in the message; the classification is this one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

import aiohttp

from connectors.errors import AuthError, ConnectorError, FatalError, RetryableError
from connectors.http.retry_after import parse_retry_after
from connectors.network import describe

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
MESSAGE_LIMIT = 500  # an error body can be a whole HTML page; keep the start


def classify(service: str, status: int, headers: Mapping[str, str], code: str,
             message: str) -> ConnectorError:
    """The exception for a non-2xx answer of ``service``."""
    text = f"{service} answered {status}" + (f" {code}" if code else "") + f": {message}"
    if status in RETRYABLE_STATUSES:
        retry_after_s = parse_retry_after(headers.get("Retry-After"))
        return RetryableError(text, retry_after_s=retry_after_s, status=status, code=code)
    if status == 401:
        return AuthError(text, status=status, code=code)
    return FatalError(text, status=status, code=code)


def transport_error(service: str, exc: BaseException,
                    url: str | None = None) -> ConnectorError | None:
    """A RetryableError for timeouts, resets and broken bodies; None for anything else.
    The message names ``host:port`` (from the exception, or ``url``) and the cause."""
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return RetryableError(f"{service} did not answer in time ({describe(exc, url)})")
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientHttpProxyError):
        # no connection was made (a proxy that refused the tunnel, too)
        return RetryableError(f"cannot reach {service} at {describe(exc, url)}", not_sent=True)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError
                  | aiohttp.ClientOSError | ConnectionResetError):
        return RetryableError(f"the connection to {service} broke ({describe(exc, url)})")
    if isinstance(exc, aiohttp.ClientConnectionError):
        return RetryableError(f"cannot reach {service} at {describe(exc, url)}")
    if isinstance(exc, json.JSONDecodeError):
        return RetryableError(f"{service} sent a body that is not JSON (truncated?)")
    return None
