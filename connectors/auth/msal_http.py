"""msal's transport to our authorities (Entra or AD FS, real or emulated).

msal is synchronous and accepts any ``http_client=`` with ``post``/``get``/``close``
(reference Part D). :class:`MsalHttpClient` is that object, built on ``requests``:

* ``trust_env = False``: an exported ``REQUESTS_CA_BUNDLE`` (this machine exports the system
  bundle, which lacks the emulator's test CA) cannot override the CA bundle we pass, so
  certificate checks stay on and stay ours. Proxies are chosen per request by the
  connection's :class:`~connectors.proxy.ProxyPolicy` instead (by default the environment's
  ``HTTPS_PROXY``/``NO_PROXY``, as for every other outbound call).
* ``data`` dicts are form-encoded, as token endpoints require.
* msal's ROPC user-realm lookup drops the authority's port
  (``https://host/common/userrealm/…``); the request goes back to ``host:<authority port>``.

:func:`build_msal_app` (or the :func:`msal_app` context manager) makes the msal application
for an authority such as ``https://host:port/<tenant>`` or ``https://host:port/adfs``. It does
network I/O (OIDC discovery), so asyncio code calls it, like every ``acquire_token_*``, in a
worker thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import msal
import requests
from requests.adapters import HTTPAdapter

from connectors.proxy import ProxyPolicy

USER_REALM_PATH = "/common/userrealm/"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# msal owns these when it builds its own session; with ours they must not slip through.
_IGNORED_KWARGS = ("verify", "proxies")


class MsalHttpClient:
    """A synchronous HTTP client for msal that trusts exactly ``ca_bundle``.

    ``ca_bundle`` is a PEM file (the emulator's test CA); ``None`` means the ``certifi``
    bundle that ``requests`` ships, never the environment's. ``authority_port`` is the port
    of the authority URL, when it has one.
    """

    def __init__(self, ca_bundle: str | None = None, authority_port: int | None = None,
                 timeout_s: float = 30.0, proxy: ProxyPolicy | None = None) -> None:
        self.authority_port = authority_port
        self.timeout_s = timeout_s
        self.proxy = proxy if proxy is not None else ProxyPolicy.from_environ()
        self._session = requests.Session()
        self._session.trust_env = False
        self._session.verify = ca_bundle if ca_bundle else True
        self._session.mount("https://", HTTPAdapter(max_retries=1))  # as msal's own default

    def post(self, url: str, params: Mapping[str, Any] | None = None, data: Any = None,
             headers: Mapping[str, str] | None = None, **kwargs: Any) -> requests.Response:
        body, all_headers = _form_encoded(data, headers)
        target = self.route(url)
        return self._session.post(target, params=params, data=body, headers=all_headers,
                                  **self._options(target, kwargs))

    def get(self, url: str, params: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None, **kwargs: Any) -> requests.Response:
        target = self.route(url)
        return self._session.get(target, params=params, headers=dict(headers or {}),
                                 **self._options(target, kwargs))

    def close(self) -> None:
        self._session.close()

    def route(self, url: str) -> str:
        """``url``, with a port-less user-realm lookup sent to the authority's port."""
        parts = urlsplit(url)
        if (self.authority_port is None or parts.scheme != "https" or parts.port is not None
                or not parts.path.startswith(USER_REALM_PATH) or not parts.hostname):
            return url
        netloc = f"{parts.hostname}:{self.authority_port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def _options(self, url: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        options = {k: v for k, v in kwargs.items() if k not in _IGNORED_KWARGS}
        options.setdefault("timeout", self.timeout_s)
        options["proxies"] = self.proxy.requests_proxies(url)
        return options


def _form_encoded(data: Any, headers: Mapping[str, str] | None) -> tuple[Any, dict[str, str]]:
    all_headers = dict(headers or {})
    if isinstance(data, Mapping):
        all_headers.setdefault("Content-Type", FORM_CONTENT_TYPE)
        return urlencode(list(data.items()), doseq=True), all_headers
    return data, all_headers


def is_adfs_authority(authority: str) -> bool:
    """True for ``https://host[:port]/adfs`` (msal's own convention, reference Part D)."""
    first = urlsplit(authority).path.strip("/").split("/")[0]
    return first.lower() == "adfs"


def build_msal_app(
    authority: str,
    client_id: str,
    *,
    client_secret: str | None = None,
    client_credential: str | dict[str, Any] | None = None,
    ca_bundle: str | None = None,
    token_cache: msal.TokenCache | None = None,
    timeout_s: float = 30.0,
    proxy: ProxyPolicy | None = None,
) -> msal.ClientApplication:
    """A Confidential (with ``client_secret``, or ``client_credential``: a secret, or msal's
    certificate or ``client_assertion`` dict) or Public msal app for ``authority``.

    Instance discovery is off: it would call login.microsoftonline.com, which neither the
    emulator nor an on-premises AD FS needs. Tenant (OIDC) discovery runs here, at once.
    """
    http_client = MsalHttpClient(ca_bundle, urlsplit(authority).port, timeout_s, proxy)
    common: dict[str, Any] = {
        "authority": authority.rstrip("/"),
        "http_client": http_client,
        "instance_discovery": False,
        "token_cache": token_cache,
    }
    try:
        credential = client_credential if client_credential is not None else client_secret
        if credential is None:
            return msal.PublicClientApplication(client_id, **common)
        return msal.ConfidentialClientApplication(client_id, client_credential=credential,
                                                  **common)
    except BaseException:
        http_client.close()  # discovery failed: do not leak the connection pool
        raise


def close_msal_app(app: msal.ClientApplication) -> None:
    """Close the app's HTTP transport (msal has no ``close`` of its own)."""
    app.http_client.close()


@contextmanager
def msal_app(authority: str, client_id: str, **options: Any) -> Iterator[msal.ClientApplication]:
    """:func:`build_msal_app` as a context manager that closes the transport on exit."""
    app = build_msal_app(authority, client_id, **options)
    try:
        yield app
    finally:
        close_msal_app(app)
