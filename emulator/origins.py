"""Origins as Microsoft writes them: ``https://host``, never ``https://host:443``.

Entra issuers, token audiences and the URLs a service hands out carry no default port, and
a client may write either form, so the emulator treats ``https://h`` and ``https://h:443``
(``http://h`` and ``http://h:80``) as the same origin everywhere it compares URLs.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"https": 443, "http": 80}


def origin(scheme: str, host: str, port: int) -> str:
    """``scheme://host[:port]``, the port left out when it is the scheme's default."""
    if DEFAULT_PORTS.get(scheme) == port:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def without_default_port(url: str) -> str:
    """``url`` with ``:443`` (https) or ``:80`` (http) removed from its authority."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    if parts.hostname is None or port is None or DEFAULT_PORTS.get(parts.scheme) != port:
        return url
    netloc = parts.netloc.rsplit(":", 1)[0]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
