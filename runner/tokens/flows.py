"""The grants, as msal calls. Synchronous: callers run these in a worker thread.

* client_credentials: ``acquire_token_for_client`` (msal looks in its cache first; a forced
  renewal drops the cached access tokens before asking). The app proves itself with a
  secret, a certificate (msal signs a client assertion) or a federated token file (read for
  every request): ``DynamicsConnectionBase.client_credential``.
* managed_identity: the platform's token endpoint (IMDS or App Service), no msal app.
* password: silent refresh of the cached account; when there is none or its refresh token is
  dead, the password grant again (a machine can do that, so it must not stop a recipe).
* authorization_code: silent refresh only; the first tokens come from ``connections login``.

Each returns msal's dict (``access_token`` or ``error``), or ``None`` when an
authorization_code connection has no signed-in account.
"""

from __future__ import annotations

from typing import Any

import msal

from connectors.auth import build_msal_app
from connectors.auth.managed_identity import ManagedIdentityApp
from runner.connections import DynamicsConnectionBase
from runner.tokens.classify import is_transient

Result = dict[str, Any]


def connection_app(conn: DynamicsConnectionBase, cache: msal.TokenCache,
                   timeout_s: float) -> msal.ClientApplication | ManagedIdentityApp:
    """The msal app for ``conn`` (does OIDC discovery: network I/O)."""
    if conn.auth == "managed_identity":
        return ManagedIdentityApp(conn.managed_identity_source,
                                  str(conn.ca_bundle) if conn.ca_bundle else None, timeout_s)
    return build_msal_app(
        conn.authority_url, str(conn.client_id), client_credential=conn.client_credential,
        ca_bundle=str(conn.ca_bundle) if conn.ca_bundle else None,
        token_cache=cache, timeout_s=timeout_s, proxy=conn.proxy_policy,
    )


def acquire(app: msal.ClientApplication | ManagedIdentityApp, conn: DynamicsConnectionBase,
            force: bool) -> Result | None:
    """A token for ``conn``; ``force`` skips msal's cached access token."""
    if isinstance(app, ManagedIdentityApp):
        return app.acquire(conn.resource)  # nothing cached here: the manager keeps the token
    if conn.auth == "client_credentials":
        return _client_credentials(app, conn, force)
    accounts = app.get_accounts()
    result: Result | None = None
    if accounts:
        result = app.acquire_token_silent_with_error(conn.scopes, accounts[0],
                                                     force_refresh=force)
        if result is not None and "access_token" in result:
            return result
    if conn.auth != "password" or (result is not None and is_transient(result)):
        return result
    return _password(app, conn)


def _client_credentials(app: msal.ClientApplication, conn: DynamicsConnectionBase,
                        force: bool) -> Result:
    if force:
        cache = app.token_cache
        kind = msal.TokenCache.CredentialType.ACCESS_TOKEN
        for entry in list(cache.search(kind, query={"client_id": app.client_id})):
            cache.remove_at(entry)
    if not isinstance(app, msal.ConfidentialClientApplication):
        return {"error": "invalid_client", "error_codes": [7000218]}
    result: Result = app.acquire_token_for_client(conn.scopes)
    return result


def _password(app: msal.ClientApplication, conn: DynamicsConnectionBase) -> Result:
    password = conn.password.get_secret_value() if conn.password else ""
    result: Result = app.acquire_token_by_username_password(str(conn.username), password,
                                                            conn.scopes)
    return result


def access_token_expiry_s(cache: msal.TokenCache) -> float | None:
    """The latest ``expires_on`` (UNIX seconds) of the access tokens in ``cache``."""
    kind = msal.TokenCache.CredentialType.ACCESS_TOKEN
    expiries = [float(entry["expires_on"]) for entry in cache.search(kind)
                if str(entry.get("expires_on", "")).isdigit()]
    return max(expiries, default=None)
