"""Bearer tokens on Web API requests.

A token is accepted when the emulator signed it, it has not expired by the emulator clock,
and its ``aud`` (trailing slash removed) is the environment URL or a path under it, with
``localhost`` or ``127.0.0.1``. Otherwise: 401 with the ``WWW-Authenticate`` challenge
clients use to discover the tenant. Verified claims go to ``request[PRINCIPAL]`` (a
``web.RequestKey`` named "principal").
"""

from __future__ import annotations

from typing import Any

import jwt
from aiohttp import web

from emulator.dataverse import errors
from emulator.directory import DEFAULT_TENANT
from emulator.origins import without_default_port
from emulator.state import EmulatorState
from emulator.tokens import TokenRejected

# request[PRINCIPAL]: aiohttp wants typed request keys; the key's name is "principal".
PRINCIPAL: web.RequestKey[dict[str, Any]] = web.RequestKey("principal", dict)


def environment_urls(state: EmulatorState) -> list[str]:
    base = without_default_port(state.base_url.rstrip("/"))
    return [base, base.replace("://localhost", "://127.0.0.1")]


def audience_accepted(state: EmulatorState, audience: str) -> bool:
    """``https://h``, ``https://h:443`` and paths under either name the environment."""
    aud = without_default_port(audience.rstrip("/"))
    return any(aud == url or aud.startswith(url + "/") for url in environment_urls(state))


def challenge(state: EmulatorState, message: str) -> errors.DataverseError:
    base = state.base_url.rstrip("/")
    header = (f"Bearer authorization_uri={base}/{DEFAULT_TENANT}/oauth2/authorize, "
              f"resource_id={base}/")
    return errors.DataverseError(401, errors.AUTH, message, {"WWW-Authenticate": header})


def verify_bearer(state: EmulatorState, authorization: str | None) -> dict[str, Any]:
    """The claims of an acceptable bearer token, or a 401 :class:`DataverseError`."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise challenge(state, "Bearer token is missing in the Authorization header.")
    token = token.strip()
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise challenge(state, "The access token is malformed.") from None
    audiences = unverified.get("aud")
    audiences = audiences if isinstance(audiences, list) else [audiences]
    accepted = [a for a in audiences if isinstance(a, str) and audience_accepted(state, a)]
    if not accepted:
        raise challenge(state, "The access token is for another audience.")
    try:
        return state.signer.verify(token, accepted)
    except TokenRejected as exc:
        raise challenge(state, f"The access token was rejected: {exc}.") from None


def authenticate(request: web.Request, state: EmulatorState) -> dict[str, Any]:
    """Verify once per request; a ``$batch`` sub-request inherits its parent's principal."""
    if PRINCIPAL not in request:
        request[PRINCIPAL] = verify_bearer(state, request.headers.get("Authorization"))
    principal: dict[str, Any] = request[PRINCIPAL]
    return principal
