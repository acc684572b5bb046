"""``python -m runner.healthcheck``: exit 0 when the daemon's ``/healthz`` answers 200.

Meant for a container's ``HEALTHCHECK``: it needs no curl, imports only the standard
library (it runs every 30 s), and finds the listener from ``RECIPE_RUNNER_LISTEN`` the way
the daemon does, asking a wildcard address (``0.0.0.0``, ``::``) on loopback instead.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_LISTEN = "127.0.0.1:9464"
TIMEOUT_S = 3.0
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def healthz_url(listen: str) -> str | None:
    """The URL of ``/healthz`` for a listen value; None when the listener is off."""
    if listen.strip().lower() in ("", "off", "none", "false"):
        return None
    host, _, port = listen.strip().rpartition(":")
    host = host.strip("[]")
    host = _WILDCARDS.get(host, host)
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{int(port)}/healthz"


def check(url: str, timeout_s: float = TIMEOUT_S) -> str | None:
    """None when ``url`` answers 200, else why not."""
    # no proxies: an HTTP_PROXY meant for Dynamics must not carry a loopback health check
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout_s) as response:
            if response.status == 200:
                return None
            return f"{url} answered {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {exc}"


def main() -> int:
    url = healthz_url(os.environ.get("RECIPE_RUNNER_LISTEN", DEFAULT_LISTEN))
    if url is None:
        print("the listener is off (RECIPE_RUNNER_LISTEN=off): nothing to check",
              file=sys.stderr)
        return 1
    problem = check(url)
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
