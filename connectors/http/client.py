"""The runtime side of an ``http`` connection: a pooled session, a base URL and auth headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin

import aiohttp


@dataclass
class HttpClient:
    session: aiohttp.ClientSession
    base_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # auth headers; never logged

    def resolve(self, url: str) -> str:
        """An absolute URL as given, or a path joined to the connection's base URL."""
        if url.startswith(("http://", "https://")):
            return url
        if not self.base_url:
            raise ValueError(f"{url!r} is not an absolute URL and the connection has no base_url")
        return urljoin(self.base_url.rstrip("/") + "/", url.lstrip("/"))
