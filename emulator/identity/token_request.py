"""A parsed token request: the form, the realm, and the client it authenticated.

Client authentication follows RFC 6749 §2.3.1 as Entra does: ``client_secret`` in the body or
HTTP Basic (``quote_plus``-encoded id and secret), never both required. Confidential clients
must prove their secret; public clients must not send one.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

from aiohttp import web

from emulator.directory import AppRegistration
from emulator.identity import assertions
from emulator.identity.errors import IdentityError
from emulator.identity.realm import Realm
from emulator.identity.runtime import IdentityRuntime, runtime_of
from emulator.state import EmulatorState


@dataclass(frozen=True)
class TokenRequest:
    state: EmulatorState
    realm: Realm
    form: Mapping[str, str]
    app: AppRegistration

    @property
    def runtime(self) -> IdentityRuntime:
        return runtime_of(self.state)

    def optional(self, name: str) -> str | None:
        return self.form.get(name) or None

    def require(self, name: str) -> str:
        """The parameter's value; AADSTS900144 when it is missing or empty."""
        value = self.form.get(name)
        if not value:
            raise IdentityError(900144, {"name": name})
        return value


async def read_form(request: web.Request) -> dict[str, str]:
    """The form body as plain strings; a body that is not a form is ``invalid_request``."""
    try:
        posted = await request.post()
    except Exception as exc:  # aiohttp raises several types for a broken body
        raise IdentityError(9002313) from exc
    return {key: value for key, value in posted.items() if isinstance(value, str)}


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise IdentityError(9002313) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise IdentityError(9002313)
    return unquote_plus(client_id), unquote_plus(secret)


def authenticate_client(
    state: EmulatorState, realm: Realm, form: Mapping[str, str], authorization: str | None
) -> AppRegistration:
    """The app registration that made this request, after checking its secret."""
    basic = basic_credentials(authorization)
    client_id = basic[0] if basic else form.get("client_id", "")
    secret = basic[1] if basic else form.get("client_secret")
    if not client_id:
        raise IdentityError(900144, {"name": "client_id"})
    tenant = realm.tenant_id or "common"
    app = state.directory.apps.get(client_id)
    not_found = IdentityError(700016, {"client_id": client_id, "tenant": tenant})
    if app is None:
        raise not_found
    if not realm.is_adfs:
        realm.check_subject_tenant(app.tenant_id, not_found)
    if assertions.is_assertion(form):  # a certificate or a federated token instead of a secret
        return assertions.authenticate_with_assertion(state, realm, app, form)
    _check_secret(app, secret)
    return app


def _check_secret(app: AppRegistration, secret: str | None) -> None:
    if app.client_secret is None:
        if secret:
            raise IdentityError(700025)
        return
    if not secret:
        raise IdentityError(7000218)
    if not hmac.compare_digest(secret.encode(), app.client_secret.encode()):
        raise IdentityError(7000215, {"client_id": app.client_id})
