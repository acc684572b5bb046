"""F&O's error bodies, read into ``(short exception type, message)`` for the classification
in :mod:`connectors.odata.errors` (its table says what each answer and failure raises).

A 500 ``AxODataWriteException`` is a ``FatalError`` with the ``innererror`` message, like other
4xx and 5xx: a failed X++ write fails again the same way.

F&O leaves ``error.code`` empty and says only "An error has occurred." at the top level; the
detail is in ``error.innererror.message`` and its .NET ``type`` (reference §9), so messages
prefer the inner message and ``code`` carries the short exception type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connectors.errors import ConnectorError
from connectors.odata.errors import MESSAGE_LIMIT, classify, transport_error

WRITE_EXCEPTION = "AxODataWriteException"


def error_detail(body: str | Any) -> tuple[str, str]:
    """(short exception type, message) of an F&O error body (text or parsed JSON)."""
    parsed: Any = body
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested past any sense
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
