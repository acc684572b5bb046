"""F&O responses and transport failures mapped, once, into the project's exceptions.

==========================================  =========================================
what happened                               raised
==========================================  =========================================
429 (``Retry-After`` kept), 502, 503, 504   ``RetryableError(retry_after_s=…)``
timeout, connection reset, truncated body   ``RetryableError``
401                                         ``AuthError`` (the client renews once first)
500 ``AxODataWriteException``               ``FatalError`` with the ``innererror`` message
                                            (a failed X++ write fails again the same way)
400, 403, 404, other 4xx and 5xx            ``FatalError`` with the most useful message
==========================================  =========================================

F&O leaves ``error.code`` empty and says only "An error has occurred." at the top level; the
detail is in ``error.innererror.message`` and its .NET ``type`` (reference §9), so messages
prefer the inner message and ``code`` carries the short exception type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connectors.dynamics365.errors import classify, transport_error
from connectors.errors import ConnectorError

WRITE_EXCEPTION = "AxODataWriteException"
MESSAGE_LIMIT = 500  # an error body can be a whole HTML page; keep the start


def error_detail(body: str | Any) -> tuple[str, str]:
    """(short exception type, message) of an F&O error body (text or parsed JSON)."""
    parsed: Any = body
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            return "", body.strip()[:MESSAGE_LIMIT]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return "", str(body).strip()[:MESSAGE_LIMIT]
    inner = error.get("innererror") if isinstance(error.get("innererror"), dict) else {}
    kind = str(inner.get("type") or error.get("code") or "").rsplit(".", 1)[-1]
    message = str(inner.get("message") or error.get("message") or "")
    return kind, message[:MESSAGE_LIMIT]


def error_from_response(status: int, headers: Mapping[str, str], body: str) -> ConnectorError:
    """The exception a caller should see for a non-2xx F&O response."""
    return classify("F&O", status, headers, *error_detail(body))


def error_from_exception(exc: BaseException) -> ConnectorError | None:
    """A RetryableError for timeouts, resets and broken bodies; None for anything else."""
    return transport_error("F&O", exc)
