"""msal's results and exceptions, mapped once into ``connectors.errors`` by what to do next.

::

    msal error dict
    ├── AADSTS code in TRANSIENT_CODES, or error temporarily_unavailable / server_error,
    │   or an ``error`` that is not an OAuth error string (a throttling or proxy body that
    │   msal parsed, e.g. a 429 with Retry-After)  → RetryableError (try again later)
    └── anything else (invalid_grant, invalid_client, interaction_required, an unknown
        certificate AADSTS700027, an expired assertion AADSTS700024, …)
                                              → AuthError(code="AADSTS…"): needs a person
    exception raised by msal's transport
    ├── requests.RequestException (DNS, refused, reset, timeout, TLS)  → RetryableError
    │   naming host:port and the cause
    ├── MsalServiceError (HTTP 429/5xx, also msal's own throttling) → RetryableError
    └── ValueError (a non-JSON body, e.g. a proxy's HTML page)   → RetryableError

Messages carry the connection's name, the code and the service's ``error``, never the
``error_description`` (it may echo a username) and never a secret, then what the code means
and its fix (:mod:`runner.tokens.messages`). ``AADSTS70000`` answering a refresh says the
token was already used at an authority that rotates refresh tokens strictly (only the newest
is accepted): another copy of the connection's tokens (a second daemon with its own state, a
restored backup) redeemed it first; the fix is a new sign-in, and one shared state store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import requests
from msal.exceptions import MsalServiceError

from connectors.errors import AuthError, ConnectorError, RetryableError
from connectors.network import describe
from runner.tokens.messages import explain

TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})
TRANSIENT_CODES = frozenset({"AADSTS50196", "AADSTS90055", "AADSTS90024", "AADSTS90033"})
_CODE = re.compile(r"\bAADSTS(\d+)")
_HTTP_STATUS = re.compile(r"HTTP Error: (\d{3})")


def aadsts_code(result: Mapping[str, Any]) -> str | None:
    """``AADSTS<n>`` from ``error_codes`` or, failing that, from ``error_description``."""
    codes = result.get("error_codes")
    if isinstance(codes, list) and codes:
        return f"AADSTS{codes[0]}"
    match = _CODE.search(str(result.get("error_description") or ""))
    return f"AADSTS{match[1]}" if match else None


def classify_result(connection: str, auth: str, result: Mapping[str, Any]) -> ConnectorError:
    """The exception for an msal error dict (one that has ``error``)."""
    # managed identity endpoints have no AADSTS codes: ours name what they refused
    code = aadsts_code(result) or result.get("recipe_runner_code")
    if is_transient(result):
        error = result.get("error")
        kind = error if isinstance(error, str) else "not an OAuth error response"
        return RetryableError(f"connection {connection}: token request failed for now "
                              f"({kind}{_suffix(code)})", code=code)
    error = str(result.get("error") or "unknown_error")
    explanation = explain(connection, code, auth)
    message = f"connection {connection}: {error}{_suffix(code)}: {explanation.sentence()}"
    return AuthError(message, connection=connection, code=code)


def classify_exception(connection: str, exc: BaseException) -> ConnectorError | None:
    """The exception for one msal raised, or ``None`` if it is not a known transient kind."""
    if isinstance(exc, requests.RequestException):
        return RetryableError(f"connection {connection}: identity provider unreachable at "
                              f"{describe(exc)}")
    if isinstance(exc, MsalServiceError):
        match = _HTTP_STATUS.search(str(exc))
        status = int(match[1]) if match else None
        return RetryableError(
            f"connection {connection}: identity provider answered HTTP {status or 'error'}",
            status=status,
        )
    if isinstance(exc, ValueError) and "JSON" in type(exc).__name__ + str(exc):
        return RetryableError(f"connection {connection}: identity provider answered non-JSON")
    return None


def _suffix(code: str | None) -> str:
    return f" {code}" if code else ""


def is_transient(result: Mapping[str, Any]) -> bool:
    """True for an msal error dict that a later retry may turn into a token."""
    error = result.get("error")
    return (not isinstance(error, str) or error in TRANSIENT_ERRORS
            or aadsts_code(result) in TRANSIENT_CODES)
