"""The token endpoint, shared by Entra (``/{tenant}/oauth2/v2.0/token``) and AD FS.

Entra responses carry ``ext_expires_in`` and, when ``client_info=1`` was sent, ``client_info``;
AD FS responses carry ``refresh_token_expires_in`` and never ``client_info`` (reference §12).
Every failure is a JSON error, never a 500: malformed input is ``invalid_request``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.identity.claims import (
    Issuance,
    access_token_claims,
    client_info,
    id_token_claims,
)
from emulator.identity.errors import IdentityError, error_response
from emulator.identity.grants import GRANTS, new_refresh_grant
from emulator.identity.realm import resolve_realm
from emulator.identity.token_request import TokenRequest, authenticate_client, read_form
from emulator.state import STATE

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def token_endpoint(request: web.Request, segment: str) -> web.Response:
    """Answer one token request made under the realm path ``segment`` (a tenant or ``adfs``)."""
    state = request.app[STATE]
    try:
        req = await _token_request(request, segment)
        issuance = GRANTS[req.form["grant_type"]](req)
        body = _token_response(req, issuance)
    except IdentityError as err:
        return error_response(err, state, adfs=segment.lower() == "adfs")
    return web.json_response(body, headers=NO_STORE)


async def entra_token(request: web.Request) -> web.Response:
    return await token_endpoint(request, request.match_info["tenant"])


async def _token_request(request: web.Request, segment: str) -> TokenRequest:
    state = request.app[STATE]
    realm = resolve_realm(state.directory, state.base_url, segment)
    form = await read_form(request)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise IdentityError(900144, {"name": "grant_type"})
    if grant_type not in GRANTS:
        raise IdentityError(70003, {"grant_type": grant_type})
    if not realm.is_adfs and form.get("resource"):
        raise IdentityError(901002)
    app = authenticate_client(state, realm, form, request.headers.get("Authorization"))
    return TokenRequest(state, realm, form, app)


def _token_response(req: TokenRequest, issuance: Issuance) -> dict[str, Any]:
    state, realm = req.state, req.realm
    lifetime_s = state.directory.settings.access_token_lifetime_s
    body: dict[str, Any] = {"token_type": "Bearer", "expires_in": lifetime_s}
    if not realm.is_adfs:
        body["ext_expires_in"] = lifetime_s
    body["access_token"] = state.signer.sign(access_token_claims(state, realm, issuance))
    if issuance.user is not None:
        body.update(_user_extras(req, issuance))
    return body


def _user_extras(req: TokenRequest, issuance: Issuance) -> dict[str, Any]:
    state, realm, scopes = req.state, req.realm, issuance.scopes
    settings = state.directory.settings
    extras: dict[str, Any] = {"scope": scopes.granted()}
    if realm.is_adfs or scopes.wants_refresh_token:
        extras["refresh_token"] = req.runtime.refresh_tokens.issue(new_refresh_grant(req, issuance))
        if realm.is_adfs:
            extras["refresh_token_expires_in"] = settings.adfs_refresh_token_lifetime_s
    if scopes.wants_id_token:
        extras["id_token"] = state.signer.sign(id_token_claims(state, realm, issuance))
    if not realm.is_adfs and req.form.get("client_info") == "1":
        extras["client_info"] = client_info(issuance)
    return extras
