"""The runtime side of an ``http`` connection: a pooled session, a base URL and auth headers,
**bound to the base URL's origin**.

A connection's credentials (its auth header) are sent only to ``base_url``'s scheme, host and
port, or to a host listed in ``allowed_hosts``. A step whose URL (often templated from record
data) points anywhere else fails with a clear error before anything is sent. Redirects are
followed here, not by aiohttp, so that a redirect to another origin drops the credentials and
every header the recipe set (aiohttp drops ``Authorization`` only), a redirect from https to
http counts as another origin, and 303 (and 301/302 after a POST) turn into a body-less GET.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from yarl import URL

MAX_REDIRECTS = 10
MAX_ANSWER_BYTES = 10 * 1024 * 1024  # decompressed: a gzip bomb stops here
REDIRECTS = frozenset({301, 302, 303, 307, 308})
Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}


class OriginError(ValueError):
    """A URL outside the connection's origin, or a redirect the client will not follow."""


class AnswerTooLarge(ValueError):
    """The service's answer (decompressed) is larger than ``MAX_ANSWER_BYTES``."""


async def read_text_capped(resp: aiohttp.ClientResponse,
                           max_bytes: int = MAX_ANSWER_BYTES) -> str:
    """The answer's text, reading at most ``max_bytes`` (decompressed) of it."""
    chunks: list[bytes] = []
    total = 0
    while chunk := await resp.content.read(64 * 1024):
        total += len(chunk)
        if total > max_bytes:
            raise AnswerTooLarge(f"the answer is larger than {max_bytes // (1024 * 1024)} MiB")
        chunks.append(chunk)
    body = b"".join(chunks)
    return body.decode(resp.get_encoding() if resp.charset else "utf-8", errors="replace")


def origin_of(url: str) -> Origin:
    """``(scheme, host, port)`` of an absolute http(s) URL; ``OriginError`` otherwise."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise OriginError(f"{url[:200]!r} has an invalid port") from None
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise OriginError(f"{url[:200]!r} is not an absolute http(s) URL")
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def describe(origin: Origin) -> str:
    scheme, host, port = origin
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + ("" if _DEFAULT_PORTS[scheme] == port else f":{port}")


@dataclass
class HttpClient:
    session: aiohttp.ClientSession
    base_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # auth headers; never logged
    allowed_hosts: tuple[str, ...] = ()  # more hosts (any port, same scheme) credentials go to

    def resolve(self, url: str) -> str:
        """An absolute URL as given, or a path joined to the connection's base URL."""
        if url.startswith(("http://", "https://")):
            return url
        if not self.base_url:
            raise ValueError(f"{url!r} is not an absolute URL and the connection has no base_url")
        return urljoin(self.base_url.rstrip("/") + "/", url.lstrip("/"))

    def trusted(self, url: str) -> bool:
        """Whether the connection's credentials may go to ``url``."""
        if not self.base_url:
            return False
        home, there = origin_of(self.base_url), origin_of(url)
        if there == home:
            return True
        host = there[1]
        return there[0] == home[0] and any(_host_matches(host, allowed)
                                           for allowed in self.allowed_hosts)

    def check_origin(self, url: str) -> None:
        """Refuse a URL the credentials must not go to (when there are credentials)."""
        if self.headers and not self.trusted(url):
            home = describe(origin_of(self.base_url)) if self.base_url else "(no base_url)"
            raise OriginError(
                f"{describe(origin_of(url))} is not this connection's origin ({home}); its "
                "credentials are only sent there (list other hosts in the connection's "
                "allowed_hosts, or use a connection without credentials)")

    async def send(self, method: str, url: str, *, headers: Mapping[str, str],
                   auth_headers: Mapping[str, str], **kwargs: Any) -> aiohttp.ClientResponse:
        """Send and follow redirects (see the module docstring); the final response, whose
        body the caller reads and releases. ``headers``: the recipe's own; ``auth_headers``:
        the connection's."""
        self.check_origin(url)
        first = origin_of(url)
        sent_headers = {**auth_headers, **headers}
        for _hop in range(MAX_REDIRECTS + 1):
            resp = await self.session.request(method, URL(url, encoded=False),
                                              headers=sent_headers, allow_redirects=False,
                                              **kwargs)
            location = resp.headers.get("Location")
            if resp.status not in REDIRECTS or not location:
                return resp
            resp.release()
            target = urljoin(url, location)
            if origin_of(target) != first and not self.trusted(target):  # file: etc. refused
                sent_headers = _without(sent_headers, {**auth_headers, **headers})
            if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                method, kwargs = "GET", _without_body(kwargs)
            url = target
        raise OriginError(f"more than {MAX_REDIRECTS} redirects")

    def scrub(self, value: Any) -> Any:
        """``value`` (a step output: dicts, lists, strings) with this connection's credential
        values masked: a service that echoes them must not put them into the job history."""
        if isinstance(value, str):
            for secret in _credential_values(self.headers):
                value = value.replace(secret, "***")
            return value
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        return value


def _host_matches(host: str, allowed: str) -> bool:
    """``allowed`` is a host name, or ``*.example.com`` for its subdomains."""
    allowed = allowed.strip().lower()
    if allowed.startswith("*."):
        return host.endswith(allowed[1:])
    return host == allowed


def _without(headers: Mapping[str, str], dropped: Mapping[str, str]) -> dict[str, str]:
    names = {name.lower() for name in dropped} | {"cookie"}
    return {k: v for k, v in headers.items() if k.lower() not in names}


def _without_body(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k not in ("json", "data")}


_SCHEME = re.compile(r"^(basic|bearer)\s+", re.IGNORECASE)


def _credential_values(headers: Mapping[str, str]) -> list[str]:
    values = set()
    for value in headers.values():
        values.add(value)
        bare = _SCHEME.sub("", value)
        if len(bare) >= 6:
            values.add(bare)
    return sorted(values, key=len, reverse=True)
