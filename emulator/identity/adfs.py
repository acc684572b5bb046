"""AD FS (2016/2019+) under ``/adfs/``: discovery, keys, authorize and token.

The token and authorize endpoints answer with and without the trailing slash (the discovery
document advertises the slashed form, as AD FS does). Grants and errors are shared with
Entra; see :mod:`emulator.identity.token_endpoint` for how the responses differ.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.identity.authorize import authorize
from emulator.identity.realm import ADFS
from emulator.identity.token_endpoint import token_endpoint
from emulator.state import STATE


def adfs_openid_configuration(base_url: str) -> dict[str, Any]:
    adfs = f"{base_url}/adfs"
    return {
        "issuer": adfs,
        "authorization_endpoint": f"{adfs}/oauth2/authorize/",
        "token_endpoint": f"{adfs}/oauth2/token/",
        "device_authorization_endpoint": f"{adfs}/oauth2/devicecode",
        "jwks_uri": f"{adfs}/discovery/keys",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials",
                                  "password", "urn:ietf:params:oauth:grant-type:device_code"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "scopes_supported": ["openid", "profile", "email", "offline_access", "allatclaims"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "access_token_issuer": adfs,
    }


async def discovery(request: web.Request) -> web.Response:
    return web.json_response(adfs_openid_configuration(request.app[STATE].base_url))


async def keys(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].signer.jwks())


async def adfs_authorize(request: web.Request) -> web.Response:
    return await authorize(request, ADFS)


async def adfs_token(request: web.Request) -> web.Response:
    return await token_endpoint(request, ADFS)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/adfs/.well-known/openid-configuration", discovery)
    app.router.add_get("/adfs/discovery/keys", keys)
    for path in ("/adfs/oauth2/authorize/", "/adfs/oauth2/authorize"):
        app.router.add_get(path, adfs_authorize)
        app.router.add_post(path, adfs_authorize)
    for path in ("/adfs/oauth2/token/", "/adfs/oauth2/token"):
        app.router.add_post(path, adfs_token)
