"""The four grants of the token endpoint, each turning a request into an :class:`Issuance`.

Errors follow the AADSTS catalogue: client credentials need ``<resource>/.default``
(AADSTS70011); ROPC fails with AADSTS50126 for a wrong password and AADSTS50076 (with
``suberror``) for a user who must do MFA; codes and refresh tokens carry their own checks
(:mod:`emulator.identity.codes`, :mod:`emulator.identity.refresh_tokens`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import replace

from emulator.directory import User
from emulator.identity.claims import Issuance
from emulator.identity.device_codes import GRANT_TYPE as DEVICE_CODE_GRANT
from emulator.identity.errors import IdentityError
from emulator.identity.refresh_tokens import RefreshGrant
from emulator.identity.scopes import ScopeRequest, parse_scopes
from emulator.identity.token_request import TokenRequest

Grant = Callable[[TokenRequest], Issuance]
ADFS_DEFAULT_RESOURCE = "urn:microsoft:userinfo"  # AD FS's resource when none is named


def client_credentials(req: TokenRequest) -> Issuance:
    if not req.app.is_confidential:
        raise IdentityError(7000218)
    scopes = _scopes(req, required=not req.realm.is_adfs)
    if not req.realm.is_adfs and not scopes.is_default_only:
        raise IdentityError(70011, {"detail": "A client credentials request must ask for "
                                              "'<resource>/.default' and nothing else."})
    tenant_id = None if req.realm.is_adfs else req.app.tenant_id
    return Issuance(req.app, scopes, tenant_id)


def password(req: TokenRequest) -> Issuance:
    if req.realm.segment == "common":
        raise IdentityError(9001023)
    username, secret = req.require("username"), req.require("password")
    scopes = _scopes(req, required=True)
    user = _user(req, username)
    if not hmac.compare_digest(secret.encode(), user.password.encode()):
        raise IdentityError(50126)
    _check_consent(req)
    _check_mfa(user, scopes)
    return Issuance(req.app, scopes, _tenant_of(req, user), user)


def authorization_code(req: TokenRequest) -> Issuance:
    code, redirect_uri = req.require("code"), req.require("redirect_uri")
    record = req.runtime.codes.redeem(code, req.app.client_id, redirect_uri,
                                      req.optional("code_verifier") or "")
    if (record.realm_segment == "adfs") != req.realm.is_adfs:
        raise IdentityError(70008)
    user = _user(req, record.username)
    _check_consent(req)
    scopes = parse_scopes(req.optional("scope") or record.scope, req.optional("resource"))
    return Issuance(req.app, scopes, _tenant_of(req, user), user, record.nonce)


def refresh_token(req: TokenRequest) -> Issuance:
    tokens = req.runtime.refresh_tokens
    grant = tokens.check(req.require("refresh_token"), req.app.client_id, adfs=req.realm.is_adfs)
    user = _user(req, grant.username)
    scopes = parse_scopes(req.optional("scope") or grant.scope, req.optional("resource"))
    # A refresh token begets a refresh token, whether or not this redeem repeats offline_access.
    scopes = replace(scopes, oidc=scopes.oidc | {"offline_access"})
    _check_consent(req)
    _check_mfa(user, scopes)
    tokens.spend(grant, strict_rotation=req.state.directory.settings.refresh_token_strict_rotation)
    return Issuance(req.app, scopes, _tenant_of(req, user), user)


def device_code(req: TokenRequest) -> Issuance:
    code = req.optional("device_code") or req.require("code")  # v1 clients send "code"
    record = req.runtime.device_codes.redeem(code, req.app.client_id)
    if (record.realm_segment == "adfs") != req.realm.is_adfs:
        raise IdentityError(70018)
    assert record.username is not None
    user = _user(req, record.username)
    _check_consent(req)
    scopes = parse_scopes(record.scope, None)
    _check_mfa(user, scopes)
    return Issuance(req.app, scopes, _tenant_of(req, user), user)


GRANTS: dict[str, Grant] = {
    "client_credentials": client_credentials,
    "password": password,
    "authorization_code": authorization_code,
    "refresh_token": refresh_token,
    DEVICE_CODE_GRANT: device_code,
}


def new_refresh_grant(req: TokenRequest, issuance: Issuance) -> RefreshGrant:
    """The record behind a refresh token issued for ``issuance``."""
    assert issuance.user is not None
    settings = req.state.directory.settings
    adfs = req.realm.is_adfs
    valid_for_s = (settings.adfs_refresh_token_lifetime_s if adfs
                   else settings.refresh_token_inactivity_s)
    return RefreshGrant(client_id=req.app.client_id, username=issuance.user.username,
                        scope=issuance.scopes.granted(), adfs=adfs,
                        issued_at_s=req.state.clock.time(), valid_for_s=valid_for_s)


def _scopes(req: TokenRequest, *, required: bool) -> ScopeRequest:
    resource = req.optional("resource") if req.realm.is_adfs else None
    raw = req.optional("scope")
    if raw is None and resource is None:
        if required:
            raise IdentityError(900144, {"name": "scope"})
        resource = ADFS_DEFAULT_RESOURCE if req.realm.is_adfs else None
    return parse_scopes(raw or "", resource)


def _user(req: TokenRequest, username: str) -> User:
    user = req.state.directory.user(username)
    tenant = req.realm.tenant_id or req.realm.segment
    not_found = IdentityError(50034, {"username": username, "tenant": tenant})
    if user is None:
        raise not_found
    if not req.realm.is_adfs:
        req.realm.check_subject_tenant(user.tenant_id, not_found)
    return user


def _tenant_of(req: TokenRequest, user: User) -> str | None:
    return None if req.realm.is_adfs else user.tenant_id


def _check_consent(req: TokenRequest) -> None:
    """A user flow for an app nobody consented to is AADSTS65001 (consent_required)."""
    if not req.app.consented:
        raise IdentityError(65001, {"client_id": req.app.client_id,
                                    "name": req.app.display_name},
                            extra={"suberror": "consent_required"})


def _check_mfa(user: User, scopes: ScopeRequest) -> None:
    if user.mfa_required:
        raise IdentityError(50076, {"resource": scopes.audience},
                            extra={"suberror": "basic_action"})
