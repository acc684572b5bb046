"""What a browser must not be able to do with the listener.

* **DNS rebinding**: a page on ``evil.example`` whose name the attacker re-points at
  127.0.0.1 can read the open loopback status page from the victim's browser, because the
  browser thinks it talks to ``evil.example``. The pages (``/``, ``/jobs/…``, ``/metrics``)
  therefore answer only to a ``Host`` this listener is known by: loopback names when it
  listens on loopback, plus ``RECIPE_RUNNER_ALLOWED_HOSTS`` (comma-separated, for a reverse
  proxy's or the machine's name). ``/healthz``, ``/readyz`` and ``/hooks/…`` answer to any.
* **Framing and injection**: every answer carries a strict Content-Security-Policy (no
  script, no frames, styles inline only), ``X-Frame-Options: DENY``, ``nosniff`` and no
  referrer; there are no CORS headers, so no other origin can read an answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from runner.ops.auth import is_loopback, is_protected

ALLOWED_HOSTS_ENV = "RECIPE_RUNNER_ALLOWED_HOSTS"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "img-src 'self' data:; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def allowed_hosts(bind_host: str, configured: str | None = None) -> frozenset[str] | None:
    """Host names the pages answer to (lower case, no port); None: any (a listener beyond
    loopback with no list configured relies on the status token instead)."""
    extra = _names((configured if configured is not None
                    else os.environ.get(ALLOWED_HOSTS_ENV, "")).split(","))
    if is_loopback(bind_host):
        return LOOPBACK_NAMES | _names([bind_host]) | extra
    return extra or None


def _names(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.strip().lower().strip("[]") for v in values if v.strip())


def host_name(header: str) -> str:
    """``Host`` without its port: ``[::1]:9464`` → ``::1``, ``a.example:80`` → ``a.example``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


def security_middleware(hosts: frozenset[str] | None) -> Middleware:
    """Refuse the pages to unknown ``Host`` names (421), and add the security headers."""

    @web.middleware
    async def secure(request: web.Request, handler: Handler) -> web.StreamResponse:
        if hosts is not None and is_protected(request.path) and \
                host_name(request.headers.get("Host", "")) not in hosts:
            return web.json_response(
                {"error": f"this listener does not answer to that Host; add it to "
                          f"{ALLOWED_HOSTS_ENV} if it is yours"}, status=421)
        return await handler(request)

    return secure


async def add_security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the headers above, and one request per connection (the
    connection guard watches one request head per connection)."""
    response.headers.update(SECURITY_HEADERS)
    response.force_close()
    response.headers["Connection"] = "close"  # headers are prepared before this hook runs
