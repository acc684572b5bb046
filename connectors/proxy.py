"""Which HTTP proxy an outbound request goes through: the environment's, or a connection's own.

Every outbound call of the daemon (token requests through msal's transport, Dataverse and F&O
through their pooled aiohttp sessions, ``http`` connections) asks a :class:`ProxyPolicy` for
the proxy of its URL, request by request:

* ``ProxyPolicy.from_environ()`` reads ``https_proxy``/``HTTPS_PROXY`` (for https URLs),
  ``http_proxy``/``HTTP_PROXY`` (for http URLs) and ``no_proxy``/``NO_PROXY``, lower case
  first as curl and Python's ``urllib`` do. Credentials in a proxy URL
  (``http://user:pass@proxy:3128``) are taken apart and sent as ``Proxy-Authorization``.
* A connection's ``proxy:`` setting (:meth:`ProxyPolicy.explicit`) replaces the environment
  entirely for that connection: one proxy for both schemes, its own ``no_proxy`` list.

``no_proxy`` entries (comma separated in the environment): ``*`` (everything), a host name
(``crm.contoso.com``), a domain suffix (``.contoso.com`` or ``contoso.com``: the domain and
every host under it), an IP address or CIDR block (``10.0.0.0/8``), each optionally with
``:port``. A host is compared as written in the URL; nothing is resolved.

TLS is end to end through a proxy (``CONNECT`` tunnel): the CA bundle a connection trusts is
the one its target's certificate is checked against, as without a proxy.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

import aiohttp
from yarl import URL

DEFAULT_PROXY_PORTS = {"http": 80, "https": 443}


class ProxyConfigError(ValueError):
    """A proxy URL that cannot be used; the message never includes credentials."""


@dataclass(frozen=True)
class Proxy:
    """One proxy server: ``http://host:port`` and optional Basic credentials."""

    url: str  # scheme://host:port, never with credentials
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str, username: str | None = None,
              password: str | None = None) -> Proxy:
        """A proxy from ``url`` (``host:port`` alone means ``http://host:port``); credentials
        in the URL are used unless ``username`` is given."""
        text = url.strip()
        if "://" not in text:
            text = "http://" + text
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProxyConfigError(f"proxy URL must be http://host:port (got scheme "
                                   f"{parts.scheme!r}{_host_hint(parts.hostname)})")
        try:
            port = parts.port or DEFAULT_PROXY_PORTS[parts.scheme]
        except ValueError:
            raise ProxyConfigError(f"proxy URL has a bad port{_host_hint(parts.hostname)}") \
                from None
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        if username is None and parts.username:
            username = unquote(parts.username)
            password = unquote(parts.password or "")
        return cls(f"{parts.scheme}://{host}:{port}", username, password)

    @property
    def authorization(self) -> str | None:
        """The ``Proxy-Authorization`` header value, when the proxy needs credentials."""
        if self.username is None:
            return None
        pair = f"{self.username}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def url_with_credentials(self) -> str:
        """The URL with percent-encoded credentials, for ``requests`` (never logged)."""
        if self.username is None:
            return self.url
        scheme, rest = self.url.split("://", 1)
        user = quote(self.username, safe="")
        password = quote(self.password or "", safe="")
        return f"{scheme}://{user}:{password}@{rest}"


def _host_hint(host: str | None) -> str:
    return f" for host {host!r}" if host else ""


@dataclass(frozen=True)
class ProxyPolicy:
    """Which proxy each URL goes through; ``ProxyPolicy()`` is "always direct"."""

    https: Proxy | None = None
    http: Proxy | None = None
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ProxyPolicy:
        """The proxy variables of ``environ`` (the process environment by default)."""
        env = os.environ if environ is None else environ
        https, http = _env(env, "https_proxy"), _env(env, "http_proxy")
        return cls(https=Proxy.parse(https) if https else None,
                   http=Proxy.parse(http) if http else None,
                   no_proxy=split_no_proxy(_env(env, "no_proxy") or ""))

    @classmethod
    def explicit(cls, url: str, username: str | None = None, password: str | None = None,
                 no_proxy: Iterable[str] = ()) -> ProxyPolicy:
        """One proxy for http and https URLs (a connection's ``proxy:`` setting)."""
        proxy = Proxy.parse(url, username, password)
        return cls(https=proxy, http=proxy, no_proxy=tuple(e.strip() for e in no_proxy
                                                            if e.strip()))

    def for_url(self, url: str | URL) -> Proxy | None:
        """The proxy for ``url``, or None to connect directly."""
        parts = urlsplit(str(url))
        proxy = self.https if parts.scheme == "https" else self.http
        if proxy is None or not parts.hostname:
            return None
        port = parts.port or DEFAULT_PROXY_PORTS.get(parts.scheme)
        if bypasses(parts.hostname, port, self.no_proxy):
            return None
        return proxy

    def requests_proxies(self, url: str) -> dict[str, str]:
        """``proxies=`` for one ``requests`` call to ``url`` (empty: direct)."""
        proxy = self.for_url(url)
        if proxy is None:
            return {}
        return {urlsplit(url).scheme: proxy.url_with_credentials()}

    def aiohttp_middleware(self) -> ClientMiddleware:
        """A client middleware that routes each request (redirects too) by this policy."""
        policy = self

        async def route_through_proxy(request: aiohttp.ClientRequest,
                                      handler: Handler) -> aiohttp.ClientResponse:
            proxy = policy.for_url(request.url)
            if proxy is None:
                request.update_proxy(None, None, None)
            else:
                headers = {"Proxy-Authorization": proxy.authorization} \
                    if proxy.authorization else None
                request.update_proxy(URL(proxy.url), None, headers)
            return await handler(request)

        return route_through_proxy

    @property
    def is_direct(self) -> bool:
        return self.https is None and self.http is None


Handler = Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]]
ClientMiddleware = Callable[[aiohttp.ClientRequest, Handler], Awaitable[aiohttp.ClientResponse]]


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name) or environ.get(name.upper())
    return value.strip() if value and value.strip() else None


def split_no_proxy(text: str) -> tuple[str, ...]:
    """``NO_PROXY``'s comma- (or space-) separated entries."""
    return tuple(e for e in text.replace(" ", ",").split(",") if e)


def bypasses(host: str, port: int | None, no_proxy: Iterable[str]) -> bool:
    """True when ``host`` (and ``port``) matches an entry of ``no_proxy``."""
    host = host.lower().strip("[]").rstrip(".")
    return any(_matches(host, port, entry.strip().lower()) for entry in no_proxy)


def _matches(host: str, port: int | None, entry: str) -> bool:
    if entry == "*":
        return True
    entry_host, entry_port = _split_port(entry)
    if entry_port is not None and entry_port != port:
        return False
    network = _network(entry_host)
    if network is not None:
        address = _address(host)
        return address is not None and address.version == network.version \
            and address in network
    domain = entry_host.lstrip("*").lstrip(".").rstrip(".")
    return bool(domain) and (host == domain or host.endswith("." + domain))


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [::1]:8443
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, int(port) if port.isdigit() else None
    return entry, None


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
