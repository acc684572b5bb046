"""Entra's metadata endpoints: OpenID configuration, signing keys, instance and user realm.

MSAL reads ``authorization_endpoint``, ``token_endpoint`` and ``issuer``; the tenant it uses
is the first path segment of ``token_endpoint`` (reference §11), so every URL here is https
on the emulator's own base URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from emulator.identity.errors import IdentityError, error_response
from emulator.identity.realm import resolve_realm
from emulator.state import STATE, EmulatorState

routes = web.RouteTableDef()
METADATA_CACHE = {"Cache-Control": "max-age=86400, private"}


def openid_configuration(base_url: str, segment: str, issuer: str) -> dict[str, Any]:
    """The v2.0 discovery document for one tenant path segment."""
    tenant_base = f"{base_url}/{segment}"
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{tenant_base}/oauth2/v2.0/authorize",
        "token_endpoint": f"{tenant_base}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"{tenant_base}/oauth2/v2.0/devicecode",
        "jwks_uri": f"{tenant_base}/discovery/v2.0/keys",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials",
                                  "password", "urn:ietf:params:oauth:grant-type:device_code"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "nonce", "oid", "tid",
                             "name", "preferred_username", "upn"],
        "request_uri_parameter_supported": False,
        "tenant_region_scope": "WW",
        "cloud_instance_name": urlsplit(base_url).hostname,
    }


@routes.get("/{tenant}/v2.0/.well-known/openid-configuration")
async def entra_openid_configuration(request: web.Request) -> web.Response:
    state = request.app[STATE]
    segment = request.match_info["tenant"]
    try:
        realm = resolve_realm(state.directory, state.base_url, segment)
    except IdentityError as err:
        return error_response(err, state)
    doc = openid_configuration(state.base_url, segment, realm.issuer(None))
    return web.json_response(doc, headers=METADATA_CACHE)


@routes.get("/{tenant}/discovery/v2.0/keys")
async def entra_keys(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].signer.jwks(), headers=METADATA_CACHE)


@routes.get("/common/discovery/instance")
async def instance_discovery(request: web.Request) -> web.Response:
    """Which host serves a given authority; ``invalid_instance`` for any host but ours."""
    state = request.app[STATE]
    endpoint = request.query.get("authorization_endpoint", "")
    parts = urlsplit(endpoint)
    ours = urlsplit(state.base_url)
    if parts.scheme != "https" or parts.hostname != ours.hostname:
        return web.json_response({"error": "invalid_instance", "error_description":
                                  f"The authority '{endpoint}' is not served here."}, status=400)
    return web.json_response(_instance_metadata(state, parts.path.strip("/").split("/")[0]))


def _instance_metadata(state: EmulatorState, tenant: str) -> dict[str, Any]:
    host = urlsplit(state.base_url).hostname
    return {
        "tenant_discovery_endpoint":
            f"{state.base_url}/{tenant or 'common'}/v2.0/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    }


@routes.get("/common/userrealm/{user}")
async def user_realm(request: web.Request) -> web.Response:
    """``Managed`` for users of our tenants (so MSAL does plain ROPC), ``Unknown`` otherwise."""
    state = request.app[STATE]
    username = request.match_info["user"]
    domain = username.rpartition("@")[2]
    known = state.directory.tenant_of_domain(domain) is not None
    return web.json_response({
        "ver": "1.0",
        "account_type": "Managed" if known else "Unknown",
        "domain_name": domain,
        "cloud_instance_name": urlsplit(state.base_url).hostname,
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    })
