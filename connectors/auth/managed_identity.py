"""Tokens from an Azure managed identity: no secret, the platform vouches for the process.

Two protocols, both a plain GET on a local endpoint:

* **IMDS** (VMs, VM scale sets, AKS nodes): ``GET {endpoint}?api-version=2018-02-01&
  resource=…[&client_id=…]`` with ``Metadata: true``. Default endpoint
  ``http://169.254.169.254/metadata/identity/oauth2/token``.
* **App Service / Functions / Container Apps**: ``GET {IDENTITY_ENDPOINT}?api-version=
  2019-08-01&resource=…[&client_id=…]`` with ``X-IDENTITY-HEADER: {IDENTITY_HEADER}``; the
  platform sets both variables.

Which one: an explicit ``header`` (the connection's ``managed_identity_header``) means App
Service; else ``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER`` in the environment; else IMDS. The
endpoint can be set (tests point it at the emulator). These endpoints are on the machine or
link-local: requests go direct, never through a proxy.

:class:`ManagedIdentityApp` looks enough like an msal app for the token manager: ``acquire``
returns msal's dict shape (``access_token``/``expires_in`` or ``error``), ``http_client``
closes. Refusals carry ``recipe_runner_code`` (``managed_identity_not_found`` or
``managed_identity_refused``) so the failure is explained like an AADSTS code.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from connectors.auth.msal_http import MsalHttpClient
from connectors.proxy import ProxyPolicy

IMDS_ENDPOINT = "http://169.254.169.254/metadata/identity/oauth2/token"
IMDS_API_VERSION = "2018-02-01"
APP_SERVICE_API_VERSION = "2019-08-01"
NOT_FOUND = "managed_identity_not_found"
REFUSED = "managed_identity_refused"


@dataclass(frozen=True)
class ManagedIdentitySource:
    """Where to ask: the endpoint, App Service's header (None: IMDS), a user-assigned id."""

    endpoint: str
    header: str | None = field(default=None, repr=False)
    client_id: str | None = None

    @classmethod
    def resolve(cls, endpoint: str | None, header: str | None, client_id: str | None,
                environ: Mapping[str, str] | None = None) -> ManagedIdentitySource:
        env = os.environ if environ is None else environ
        if header is not None:
            return cls(endpoint or env.get("IDENTITY_ENDPOINT") or IMDS_ENDPOINT, header,
                       client_id)
        if endpoint is None and env.get("IDENTITY_ENDPOINT") and env.get("IDENTITY_HEADER"):
            return cls(env["IDENTITY_ENDPOINT"], env["IDENTITY_HEADER"], client_id)
        return cls(endpoint or IMDS_ENDPOINT, None, client_id)

    @property
    def kind(self) -> str:
        return "app_service" if self.header is not None else "imds"


class ManagedIdentityApp:
    """Asks the managed-identity endpoint for a token (synchronous: run in a thread)."""

    def __init__(self, source: ManagedIdentitySource, ca_bundle: str | None = None,
                 timeout_s: float = 30.0) -> None:
        self.source = source
        self.http_client = MsalHttpClient(ca_bundle, None, timeout_s, ProxyPolicy())

    def acquire(self, resource: str) -> dict[str, Any]:
        """A token for ``resource`` (e.g. ``https://abc.crm.dynamics.com``), msal-shaped."""
        params = {"resource": resource}
        if self.source.client_id:
            params["client_id"] = self.source.client_id
        if self.source.header is None:
            params["api-version"] = IMDS_API_VERSION
            headers = {"Metadata": "true"}
        else:
            params["api-version"] = APP_SERVICE_API_VERSION
            headers = {"X-IDENTITY-HEADER": self.source.header}
        response = self.http_client.get(self.source.endpoint, params=params, headers=headers)
        return _result(response)


def _result(response: requests.Response) -> dict[str, Any]:
    if response.status_code == 429 or response.status_code >= 500:
        return {"error": "temporarily_unavailable",
                "error_description": f"managed identity endpoint answered "
                                     f"HTTP {response.status_code}"}
    body = response.json()  # a non-JSON answer raises: classified as temporary
    if not isinstance(body, dict):
        raise ValueError("managed identity endpoint answered JSON that is not an object")
    if response.status_code == 200 and body.get("access_token"):
        return {"access_token": body["access_token"], "expires_in": _expires_in(body),
                "token_type": body.get("token_type", "Bearer")}
    text = str(body.get("error_description") or body.get("message") or "")
    code = NOT_FOUND if "not found" in text.lower() or "no managed identity" in text.lower() \
        else REFUSED
    return {"error": str(body.get("error") or "invalid_request"), "error_description": text,
            "recipe_runner_code": code}


def _expires_in(body: Mapping[str, Any]) -> int:
    if str(body.get("expires_in", "")).isdigit():
        return int(body["expires_in"])
    if str(body.get("expires_on", "")).isdigit():
        return max(0, int(body["expires_on"]) - int(time.time()))
    return 3600
