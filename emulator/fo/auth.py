"""Bearer tokens on ``/data/`` requests.

A token is accepted when the emulator signed it, it has not expired by the emulator clock,
and its ``aud`` is the environment URL (``state.base_url``, with or without a trailing
slash, ``localhost`` or ``127.0.0.1``): F&O's resource is the environment URL without a
trailing slash (reference §9). Otherwise: 401 with a ``WWW-Authenticate: Bearer`` challenge.
"""

from __future__ import annotations

from typing import Any

import jwt

from emulator.dataverse.auth import environment_urls
from emulator.directory import DEFAULT_TENANT
from emulator.fo import errors
from emulator.origins import without_default_port
from emulator.state import EmulatorState
from emulator.tokens import TokenRejected


def _challenge(state: EmulatorState, detail: str) -> errors.FoError:
    base = state.base_url.rstrip("/")
    header = f"Bearer authorization_uri={base}/{DEFAULT_TENANT}/oauth2/authorize"
    return errors.unauthorized(detail, header)


def verify_bearer(state: EmulatorState, authorization: str | None) -> dict[str, Any]:
    """The claims of an acceptable bearer token, or a 401 :class:`FoError`."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _challenge(state, "Bearer token is missing in the Authorization header.")
    try:
        audience = jwt.decode(token, options={"verify_signature": False}).get("aud")
    except jwt.PyJWTError:
        raise _challenge(state, "The access token is malformed.") from None
    audiences = audience if isinstance(audience, list) else [audience]
    urls = environment_urls(state)
    accepted = [a for a in audiences
                if isinstance(a, str) and without_default_port(a.rstrip("/")) in urls]
    if not accepted:
        raise _challenge(state, "The access token is for another audience.")
    try:
        return state.signer.verify(token, accepted)
    except TokenRejected as exc:
        raise _challenge(state, f"The access token was rejected: {exc}.") from None
