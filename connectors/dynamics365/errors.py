"""Dataverse's error bodies, read into ``(code, message)`` for the classification in
:mod:`connectors.odata.errors` (its table says what each answer and failure raises).

Dataverse's ``{"error": {"code", "message"}}`` keeps its code (``0x80040217``…) in the
exception. A 500 is a ``FatalError`` like other 4xx and 5xx: in Dataverse it is deterministic
(duplicate detection, plug-ins), so sending again fails the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connectors.errors import ConnectorError
from connectors.odata.errors import MESSAGE_LIMIT, classify, transport_error


def error_detail(body: str) -> tuple[str, str]:
    """(code, message) from ``{"error": {"code", "message"}}``, or ("", start of the body)."""
    try:
        parsed: Any = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested past any sense
        return "", body.strip()[:MESSAGE_LIMIT]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return "", body.strip()[:MESSAGE_LIMIT]
    return str(error.get("code") or ""), str(error.get("message") or "")[:MESSAGE_LIMIT]


def error_from_response(status: int, headers: Mapping[str, str], body: str) -> ConnectorError:
    """The exception a caller should see for a non-2xx Dataverse response."""
    return classify("Dataverse", status, headers, *error_detail(body))


def error_from_exception(exc: BaseException) -> ConnectorError | None:
    """A RetryableError for timeouts, resets and broken bodies; None for anything else."""
    return transport_error("Dataverse", exc)
