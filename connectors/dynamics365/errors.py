"""Dataverse responses and transport failures mapped, once, into the project's exceptions.

==========================================  =========================================
what happened                               raised
==========================================  =========================================
429 (``Retry-After`` kept), 502, 503, 504   ``RetryableError(retry_after_s=…)``
timeout, connection reset, truncated body   ``RetryableError``
401                                         ``AuthError`` (the client renews once first)
400, 403, 404, 405, 412, other 4xx          ``FatalError`` with Dataverse's code and message
500 and other 5xx                           ``FatalError`` (a 500 is deterministic in
                                            Dataverse: duplicate detection, plug-ins)
==========================================  =========================================
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from connectors.errors import AuthError, ConnectorError, FatalError, RetryableError
from connectors.http.retry_after import parse_retry_after

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
MESSAGE_LIMIT = 500  # an error body can be a whole HTML page; keep the start


def error_detail(body: str) -> tuple[str, str]:
    """(code, message) from ``{"error": {"code", "message"}}``, or ("", start of the body)."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return "", body.strip()[:MESSAGE_LIMIT]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return "", body.strip()[:MESSAGE_LIMIT]
    return str(error.get("code") or ""), str(error.get("message") or "")[:MESSAGE_LIMIT]


def classify(service: str, status: int, headers: Mapping[str, str], code: str,
             message: str) -> ConnectorError:
    """The exception for a non-2xx answer of ``service`` (shared with the F&O connector)."""
    text = f"{service} answered {status}" + (f" {code}" if code else "") + f": {message}"
    if status in RETRYABLE_STATUSES:
        retry_after_s = parse_retry_after(headers.get("Retry-After"))
        return RetryableError(text, retry_after_s=retry_after_s, status=status, code=code)
    if status == 401:
        return AuthError(text, status=status, code=code)
    return FatalError(text, status=status, code=code)


def transport_error(service: str, exc: BaseException) -> ConnectorError | None:
    """A RetryableError for timeouts, resets and broken bodies; None for anything else."""
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return RetryableError(f"{service} did not answer in time")
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError
                  | aiohttp.ClientOSError | ConnectionResetError):
        return RetryableError(f"the connection to {service} broke: {type(exc).__name__}")
    if isinstance(exc, aiohttp.ClientConnectionError):
        return RetryableError(f"cannot reach {service}: {type(exc).__name__}")
    if isinstance(exc, json.JSONDecodeError):
        return RetryableError(f"{service} sent a body that is not JSON (truncated?)")
    return None


def error_from_response(status: int, headers: Mapping[str, str], body: str) -> ConnectorError:
    """The exception a caller should see for a non-2xx Dataverse response."""
    return classify("Dataverse", status, headers, *error_detail(body))


def error_from_exception(exc: BaseException) -> ConnectorError | None:
    """A RetryableError for timeouts, resets and broken bodies; None for anything else."""
    return transport_error("Dataverse", exc)
