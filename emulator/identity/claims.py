"""The claims of the JWTs the emulator issues: access tokens, id_tokens and ``client_info``.

Access token: ``aud`` (the resource), ``iss``, ``iat``/``nbf``/``exp`` on the emulator clock,
``tid`` (Entra only), ``oid`` (the user, or the app's service principal), ``sub``, ``appid``,
``idtyp`` (``user``/``app``), then ``scp`` + ``upn`` for users or ``roles`` for apps.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from emulator.directory import AppRegistration, User
from emulator.identity.realm import Realm
from emulator.identity.scopes import ScopeRequest
from emulator.state import EmulatorState


@dataclass(frozen=True)
class Issuance:
    """What a grant established: which app, for which scopes, on behalf of whom."""

    app: AppRegistration
    scopes: ScopeRequest
    tenant_id: str | None  # None on AD FS, which has no tenants
    user: User | None = None  # None: an app-only token (client credentials)
    nonce: str | None = None  # from /authorize, copied verbatim into the id_token


def b64url_json(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def pairwise_sub(object_id: str, client_id: str) -> str:
    """Entra's ``sub``: stable per user and app, different across apps."""
    digest = hashlib.sha256(f"{object_id}:{client_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _times(state: EmulatorState) -> dict[str, int]:
    now_s = int(state.clock.time())
    lifetime_s = state.directory.settings.access_token_lifetime_s
    return {"iat": now_s, "nbf": now_s, "exp": now_s + lifetime_s}


def _tenant(issuance: Issuance) -> dict[str, str]:
    return {"tid": issuance.tenant_id} if issuance.tenant_id else {}


def access_token_claims(state: EmulatorState, realm: Realm, issuance: Issuance) -> dict[str, Any]:
    app, user = issuance.app, issuance.user
    claims: dict[str, Any] = {
        "aud": issuance.scopes.audience, "iss": realm.issuer(issuance.tenant_id),
        **_times(state), **_tenant(issuance), "appid": app.client_id, "azp": app.client_id,
        "appidacr": "1" if app.is_confidential else "0", "ver": "2.0", "uti": uuid.uuid4().hex,
    }
    if user is None:
        principal = app.service_principal_id
        claims.update(oid=principal, sub=principal, idtyp="app", roles=list(app.roles))
    else:
        claims.update(oid=user.object_id, sub=pairwise_sub(user.object_id, app.client_id),
                      idtyp="user", scp=issuance.scopes.delegated_scp(), upn=user.username,
                      unique_name=user.username, name=user.display_name or user.username)
    return claims


def id_token_claims(state: EmulatorState, realm: Realm, issuance: Issuance) -> dict[str, Any]:
    user = issuance.user
    assert user is not None, "id_tokens are for user sign-ins"
    claims: dict[str, Any] = {
        "aud": issuance.app.client_id, "iss": realm.issuer(issuance.tenant_id), **_times(state),
        **_tenant(issuance), "sub": pairwise_sub(user.object_id, issuance.app.client_id),
        "oid": user.object_id, "name": user.display_name or user.username, "ver": "2.0",
        "upn": user.username,
    }
    if not realm.is_adfs:
        claims["preferred_username"] = user.username
    if issuance.nonce is not None:
        claims["nonce"] = issuance.nonce
    return claims


def client_info(issuance: Issuance) -> str:
    """base64url of ``{"uid": <oid>, "utid": <tid>}``; MSAL builds ``home_account_id`` from it."""
    user = issuance.user
    assert user is not None and issuance.tenant_id is not None
    return b64url_json({"uid": user.object_id, "utid": issuance.tenant_id})
