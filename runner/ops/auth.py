"""Optional bearer-token protection of the status page and ``/metrics``.

The token comes from ``RECIPE_RUNNER_STATUS_TOKEN``. With it, ``/``, ``/jobs/…`` and
``/metrics`` need ``Authorization: Bearer <token>`` (a browser may send it as the password
of HTTP Basic, any user name, so a person can open the page). ``/healthz`` and ``/readyz``
stay open for probes; ``/hooks/…`` have their own signatures. Without a token the listener
must stay on loopback: :func:`listen_problem` says why a start is refused.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

PROTECTED_PREFIXES = ("/metrics", "/jobs/")
PROTECTED_EXACT = ("/",)
REALM = 'realm="recipe-runner"'


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals; any other name counts as public."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


MIN_TOKEN_CHARS = 24
MIN_TOKEN_DISTINCT_CHARS = 10
TOKEN_HINT = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def listen_problem(address: tuple[str, int] | None, status_token: str | None) -> str | None:
    """Why the daemon must not start with this listen address, or ``None``."""
    if address is None or is_loopback(address[0]):
        return None
    if not status_token:
        return (f"the listener would bind {address[0]}:{address[1]}, which is not loopback, "
                "and the status page and metrics would be open to the network: set "
                "RECIPE_RUNNER_STATUS_TOKEN to a long random value, or listen on 127.0.0.1")
    weakness = token_weakness(status_token)
    if weakness:
        return (f"the listener would bind {address[0]}:{address[1]}, which is not loopback, "
                f"and RECIPE_RUNNER_STATUS_TOKEN is {weakness}: use a long random value "
                f"(e.g. {TOKEN_HINT})")
    return None


def token_weakness(token: str) -> str | None:
    """Why ``token`` is too weak to guard a listener on the network (never its value)."""
    if len(token) < MIN_TOKEN_CHARS:
        return f"too short ({len(token)} characters, at least {MIN_TOKEN_CHARS})"
    if len(set(token)) < MIN_TOKEN_DISTINCT_CHARS:
        return (f"too uniform ({len(set(token))} different characters, at least "
                f"{MIN_TOKEN_DISTINCT_CHARS})")
    return None


def is_protected(path: str) -> bool:
    return path in PROTECTED_EXACT or path.startswith(PROTECTED_PREFIXES)


def presented_token(authorization: str) -> str | None:
    """The token of a ``Bearer`` header, or the password of a ``Basic`` one."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def token_middleware(status_token: str | None) -> Middleware:
    """A middleware that asks for ``status_token`` on protected paths (none: open)."""
    expected = (status_token or "").encode()

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not expected or not is_protected(request.path):
            return await handler(request)
        given = presented_token(request.headers.get("Authorization", ""))
        if given is not None and hmac.compare_digest(given.encode(), expected):
            return await handler(request)
        return _unauthorized()

    return require_token


def _unauthorized() -> web.Response:
    response = web.json_response({"error": "this page needs the status token "
                                           "(Authorization: Bearer …)"}, status=401)
    response.headers.add("WWW-Authenticate", f"Bearer {REALM}")
    response.headers.add("WWW-Authenticate", f"Basic {REALM}")
    return response
