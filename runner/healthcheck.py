"""``python -m runner.healthcheck``: exit 0 when the daemon is alive.

Meant for a container's ``HEALTHCHECK``: it needs no curl and imports only the standard
library (it runs every 30 s). With the listener on, ``/healthz`` must answer 200; it finds
the listener from ``RECIPE_RUNNER_LISTEN`` the way the daemon does, asking a wildcard
address (``0.0.0.0``, ``::``) on loopback instead. With ``RECIPE_RUNNER_LISTEN=off``, the
heartbeat file the daemon touches from its event loop (``runner.heartbeat_file``) must be
fresh.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

DEFAULT_LISTEN = "127.0.0.1:9464"
DEFAULT_STATE = "sqlite:///state/recipe-runner.db"
HEARTBEAT_NAME = "recipe-runner.alive"  # runner.heartbeat_file.FILE_NAME
STALE_AFTER_S = 30.0  # runner.heartbeat_file.STALE_AFTER_S
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


def heartbeat_problem(path: Path, stale_after_s: float = STALE_AFTER_S) -> str | None:
    """None when ``path`` was touched within ``stale_after_s``, else why not."""
    try:
        age_s = time.time() - path.stat().st_mtime
    except OSError as exc:
        return f"no heartbeat file at {path} ({exc.strerror}); is the daemon running?"
    if age_s > stale_after_s:
        return f"heartbeat file {path} is {age_s:.0f} s old: the event loop is stuck"
    return None


def heartbeat_file() -> Path:
    """The same place ``runner.heartbeat_file.heartbeat_path`` gives the daemon."""
    explicit = os.environ.get("RECIPE_RUNNER_HEARTBEAT_FILE")
    if explicit:
        return Path(explicit)
    state = os.environ.get("RECIPE_RUNNER_STATE", DEFAULT_STATE)
    for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
        if state.startswith(prefix):
            return Path(state[len(prefix):]).parent / HEARTBEAT_NAME
    return Path("state") / HEARTBEAT_NAME


def main() -> int:
    url = healthz_url(os.environ.get("RECIPE_RUNNER_LISTEN", DEFAULT_LISTEN))
    problem = check(url) if url is not None else heartbeat_problem(heartbeat_file())
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
