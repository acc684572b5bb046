"""Field types shared by the connection models: host names, URLs, files.

Each validator raises `ValueError` with a short message that is shown to the user as is (pydantic
wraps it; `runner.config.pydantic_problems` unwraps it). Messages may echo a host name, never a
whole value: a pasted URL could carry credentials.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated
from urllib.parse import SplitResult, urlsplit

from pydantic import AfterValidator, StringConstraints, ValidationInfo

CONNECTION_NAME_PATTERN = r"^[a-z0-9_-]+$"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_PORT = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*(?::(?P<port>\d{{1,5}}))?$")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")


def _host_of(parts: SplitResult) -> str:
    host = parts.hostname or ""
    try:
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return host


def check_host_port(value: str) -> str:
    """A host name with an optional `:port`, no scheme, no path; returned in lower case."""
    if "://" in value:
        host = _host_of(urlsplit(value))
        raise ValueError(f"must be a host name without scheme or path: write {host!r}")
    if "/" in value:
        raise ValueError(f"must be a host name without a path: write {value.split('/')[0]!r}")
    match = _HOST_PORT.match(value)
    if match is None:
        raise ValueError("must be a host name such as abc.crm.dynamics.com (optionally :port)")
    if match["port"] is not None and not 0 < int(match["port"]) < 65536:
        raise ValueError("port must be between 1 and 65535")
    return value.lower()


def check_https_url(value: str) -> str:
    """An absolute `https://host[:port]/…` URL."""
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("must be an https:// URL such as https://abc.crm.dynamics.com/")
    return value


def check_http_url(value: str) -> str:
    """An absolute `http://` or `https://` URL with a host."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL such as https://hooks.example.com")
    return value


def check_loopback_redirect(value: str) -> str:
    """`http://localhost:PORT/…` or `http://127.0.0.1:PORT/…`: where our own listener runs."""
    parts = urlsplit(value)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(
            "must be http://localhost:PORT/... or http://127.0.0.1:PORT/... (a local listener)"
        )
    try:
        port = parts.port
    except ValueError:
        port = None
    if not port:
        raise ValueError("must include a port, e.g. http://localhost:8765/callback")
    return value


def check_data_area(value: str) -> str:
    """A Finance & Operations company id (dataAreaId): 1 to 4 letters or digits, lower case."""
    if not re.fullmatch(r"[A-Za-z0-9]{1,4}", value):
        raise ValueError("must be 1 to 4 letters or digits, a company id such as usmf")
    return value.lower()


def existing_file(path: Path, info: ValidationInfo) -> Path:
    """`path` made absolute against the `base_dir` validation context (the config file's folder),
    which must name a readable file."""
    base_dir = (info.context or {}).get("base_dir")
    resolved = path.expanduser()
    if not resolved.is_absolute() and base_dir is not None:
        resolved = Path(base_dir) / resolved
    if not resolved.is_file():
        raise ValueError(f"file not found: '{path}'")
    return resolved


HostPort = Annotated[str, AfterValidator(check_host_port)]
HttpsUrl = Annotated[str, AfterValidator(check_https_url)]
HttpUrl = Annotated[str, AfterValidator(check_http_url)]
DataAreaId = Annotated[str, AfterValidator(check_data_area)]
LoopbackRedirect = Annotated[str, AfterValidator(check_loopback_redirect)]
NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ConnectionName = Annotated[str, StringConstraints(pattern=CONNECTION_NAME_PATTERN)]
