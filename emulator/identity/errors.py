"""Entra ID error responses: the AADSTS catalogue and the seven-field error JSON.

Clients branch on ``error`` and ``error_codes``; ``error_description`` starts with
``AADSTS<code>:`` and ends with the trace lines, as Entra's does (reference §10).
AD FS answers the same failures with only ``error`` and ``error_description``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from emulator.clock import EmulatorClock
from emulator.state import EmulatorState


@dataclass(frozen=True)
class AadstsCode:
    error: str
    message: str
    status: int = 400


# Code → the OAuth ``error`` Entra pairs with it and its message. Codes and meanings follow
# the AADSTS reference; the ``error`` and status columns follow recorded traffic (reference §10).
CATALOGUE: dict[int, AadstsCode] = {
    50011: AadstsCode("invalid_request", "The redirect URI '{redirect_uri}' specified in the "
                      "request does not match the redirect URIs configured for the application "
                      "'{client_id}'."),
    50034: AadstsCode("invalid_grant", "The user account {username} does not exist in the "
                      "{tenant} directory. To sign into this application, the account must be "
                      "added to the directory."),
    50076: AadstsCode("invalid_grant", "Due to a configuration change made by your administrator, "
                      "or because you moved to a new location, you must use multi-factor "
                      "authentication to access '{resource}'."),
    50126: AadstsCode("invalid_grant", "Error validating credentials due to invalid username or "
                      "password."),
    50173: AadstsCode("invalid_grant", "The provided grant has expired due to it being revoked, "
                      "a fresh auth token is needed. The user might have changed or reset their "
                      "password."),
    54005: AadstsCode("invalid_grant", "OAuth2 Authorization code was already redeemed, please "
                      "retry with a new valid code or use an existing refresh token."),
    65001: AadstsCode("invalid_grant", "The user or administrator has not consented to use the "
                      "application with ID '{client_id}' named '{name}'. Send an interactive "
                      "authorization request for this user and resource."),
    70016: AadstsCode("authorization_pending", "OAuth 2.0 device flow error. Authorization is "
                      "pending. Continue polling."),
    70018: AadstsCode("bad_verification_code", "Invalid verification code due to User typing "
                      "in wrong user code for device code flow."),
    70019: AadstsCode("expired_token", "Verification code expired."),
    70000: AadstsCode("invalid_grant", "Provided grant is invalid or malformed. {detail}"),
    70003: AadstsCode("unsupported_grant_type", "The app requested an unsupported grant type "
                      "'{grant_type}'."),
    70008: AadstsCode("invalid_grant", "The provided authorization code or refresh token has "
                      "expired due to inactivity. Send a new interactive authorization request "
                      "for this user and resource."),
    70011: AadstsCode("invalid_scope", "The provided request must include a 'scope' input "
                      "parameter. The provided value for the input parameter 'scope' is not "
                      "valid. {detail}"),
    90002: AadstsCode("invalid_request", "Tenant '{tenant}' not found. Check to make sure you "
                      "have the correct tenant ID and are signing into the correct cloud."),
    500112: AadstsCode("invalid_grant", "The reply address '{redirect_uri}' does not match the "
                       "reply address provided when requesting Authorization code."),
    501481: AadstsCode("invalid_grant", "The Code_Verifier does not match the code_challenge "
                       "supplied in the authorization request."),
    700016: AadstsCode("unauthorized_client", "Application with identifier '{client_id}' was not "
                       "found in the directory '{tenant}'."),
    700025: AadstsCode("invalid_client", "Client is public so neither 'client_assertion' nor "
                       "'client_secret' should be presented.", 401),
    700082: AadstsCode("invalid_grant", "The refresh token has expired due to inactivity. The "
                       "token was issued on {issued_at} and was inactive for {inactive}."),
    900144: AadstsCode("invalid_request", "The request body must contain the following "
                       "parameter: '{name}'."),
    901002: AadstsCode("invalid_request", "The 'resource' request parameter is not supported."),
    9001023: AadstsCode("invalid_grant", "The grant type is not supported over the /common or "
                        "/consumers endpoints. Please use the /organizations or tenant-specific "
                        "endpoint."),
    9002313: AadstsCode("invalid_request", "Invalid request. Request is malformed or invalid."),
    9002325: AadstsCode("invalid_request", "Proof Key for Code Exchange is required for this "
                        "authorization request (code_challenge with code_challenge_method=S256)."),
    7000215: AadstsCode("invalid_client", "Invalid client secret provided. Ensure the secret "
                        "being sent in the request is the client secret value, not the client "
                        "secret ID, for a secret added to app '{client_id}'.", 401),
    7000218: AadstsCode("invalid_client", "The request body must contain the following "
                        "parameter: 'client_assertion' or 'client_secret'.", 401),
}


@dataclass(eq=False)  # exceptions compare and hash by identity
class IdentityError(Exception):
    """A failure Entra reports with an AADSTS code; ``details`` fill the message template."""

    code: int
    details: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. suberror, claims

    @property
    def entry(self) -> AadstsCode:
        return CATALOGUE[self.code]

    @property
    def message(self) -> str:
        try:
            return self.entry.message.format(**self.details)
        except (KeyError, IndexError):  # a template slot not filled: keep the message readable
            return self.entry.message

    def __str__(self) -> str:
        return f"AADSTS{self.code}: {self.message}"


def entra_error_body(err: IdentityError, clock: EmulatorClock, base_url: str) -> dict[str, Any]:
    """The seven-field Entra error JSON (plus ``suberror``/``claims`` when set)."""
    timestamp = clock.now().strftime("%Y-%m-%d %H:%M:%SZ")
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    description = (f"AADSTS{err.code}: {err.message}\r\nTrace ID: {trace_id}\r\n"
                   f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}")
    body: dict[str, Any] = {
        "error": err.entry.error,
        "error_description": description,
        "error_codes": [err.code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{base_url}/error?code={err.code}",  # our host: nothing may follow it out
    }
    body.update(err.extra)
    return body


def adfs_error_body(err: IdentityError) -> dict[str, Any]:
    # AD FS sends only the two RFC 6749 fields; the AADSTS code stays in the text so a
    # person reading logs can still tell the failures apart.
    return {"error": err.entry.error, "error_description": str(err)}


def error_response(err: IdentityError, state: EmulatorState, *, adfs: bool = False) -> web.Response:
    """The JSON error a token endpoint answers with, Entra- or AD FS-shaped."""
    body = adfs_error_body(err) if adfs else entra_error_body(err, state.clock, state.base_url)
    return web.json_response(body, status=err.entry.status,
                             headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
