"""The authorize endpoint (code flow with PKCE S256), for Entra and AD FS.

A person signs in through a tiny HTML form; tests instead set an auto-sign-in user through
``POST /_emulator/identity/auto-sign-in`` and GET redirects at once. An unknown client or a
redirect URI that is not registered is an error page, never a redirect (an open redirector
would hand codes to anyone); other errors redirect with ``error`` and ``error_description``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from urllib.parse import urlencode

from aiohttp import web

from emulator.directory import AppRegistration, User
from emulator.identity.codes import AuthCode
from emulator.identity.errors import IdentityError
from emulator.identity.realm import Realm, resolve_realm
from emulator.identity.runtime import runtime_of
from emulator.identity.scopes import parse_scopes
from emulator.state import STATE, EmulatorState


@dataclass(frozen=True)
class AuthorizeRequest:
    app: AppRegistration
    realm: Realm
    redirect_uri: str
    params: Mapping[str, str]  # the query string as received

    def redirect(self, result: Mapping[str, str]) -> web.Response:
        """Send ``result`` (plus ``state``) back to the client in its response mode."""
        payload = dict(result)
        if "state" in self.params:
            payload["state"] = self.params["state"]
        mode = self.params.get("response_mode", "query")
        if mode == "form_post":
            return web.Response(text=_form_post_page(self.redirect_uri, payload),
                                content_type="text/html")
        sep = "#" if mode == "fragment" else ("&" if "?" in self.redirect_uri else "?")
        location = f"{self.redirect_uri}{sep}{urlencode(payload)}"
        return web.Response(status=302, headers={"Location": location})


async def entra_authorize(request: web.Request) -> web.Response:
    return await authorize(request, request.match_info["tenant"])


async def authorize(request: web.Request, segment: str) -> web.Response:
    """GET shows the sign-in form (or signs the auto-sign-in user in); POST checks it."""
    state = request.app[STATE]
    try:
        auth = _trusted_request(state, segment, request.query)
    except IdentityError as err:
        return _error_page(err)
    try:
        _check_request(auth)
    except IdentityError as err:
        # At /authorize a missing consent is the OAuth error consent_required.
        error = "consent_required" if err.code == 65001 else err.entry.error
        return auth.redirect({"error": error, "error_description": str(err)})
    if request.method == "POST":
        return await _sign_in_from_form(request, state, auth)
    username = runtime_of(state).auto_sign_in_username
    user = state.directory.user(username) if username else None
    if user is None:
        return _sign_in_page(request, error="")
    return _issue_code(state, auth, user)


def _trusted_request(state: EmulatorState, segment: str, params: Mapping[str, str]
                     ) -> AuthorizeRequest:
    """Check what must hold before any redirect is safe: realm, client and redirect URI."""
    realm = resolve_realm(state.directory, state.base_url, segment)
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    app = state.directory.apps.get(client_id)
    not_found = IdentityError(700016, {"client_id": client_id, "tenant": realm.segment})
    if app is None:
        raise not_found
    if not realm.is_adfs:
        realm.check_subject_tenant(app.tenant_id, not_found)
    if redirect_uri not in app.redirect_uris:
        raise IdentityError(50011, {"redirect_uri": redirect_uri, "client_id": client_id})
    return AuthorizeRequest(app, realm, redirect_uri, params)


def _check_request(auth: AuthorizeRequest) -> None:
    params = auth.params
    if params.get("response_type") != "code":
        raise IdentityError(9002313)
    if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
        raise IdentityError(9002325)
    parse_scopes(params.get("scope", ""), params.get("resource") if auth.realm.is_adfs else None)
    if not auth.app.consented:  # an admin has to grant the app its permissions first
        raise IdentityError(65001, {"client_id": auth.app.client_id,
                                    "name": auth.app.display_name})


async def _sign_in_from_form(request: web.Request, state: EmulatorState,
                             auth: AuthorizeRequest) -> web.Response:
    form = await request.post()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    user = state.directory.user(username)
    if user is None or not hmac.compare_digest(password.encode(), user.password.encode()):
        return _sign_in_page(request, error="Your account or password is incorrect.")
    if not auth.realm.is_adfs and auth.realm.tenant_id not in (None, user.tenant_id):
        return _sign_in_page(request, error="This account is not in this organisation.")
    return _issue_code(state, auth, user)


def _issue_code(state: EmulatorState, auth: AuthorizeRequest, user: User) -> web.Response:
    record = AuthCode(
        client_id=auth.app.client_id, redirect_uri=auth.redirect_uri,
        scope=auth.params.get("scope", ""), code_challenge=auth.params["code_challenge"],
        username=user.username, realm_segment=auth.realm.segment,
        nonce=auth.params.get("nonce"), issued_at_s=state.clock.time(),
    )
    code = runtime_of(state).codes.issue(record)
    return auth.redirect({"code": code})


def _error_page(err: IdentityError) -> web.Response:
    body = (f"<!doctype html><title>Sign in: error</title><h1>Sorry, we can't sign you in"
            f"</h1><p id=\"error\">{escape(str(err))}</p>")
    return web.Response(text=body, status=400, content_type="text/html")


def _sign_in_page(request: web.Request, error: str) -> web.Response:
    notice = f'<p id="error">{escape(error)}</p>' if error else ""
    body = (
        "<!doctype html><title>Sign in</title><h1>Sign in (emulator)</h1>" + notice
        + f'<form method="post" action="{escape(request.path_qs)}">'
        '<label>Username <input name="username" autofocus></label>'
        '<label>Password <input name="password" type="password"></label>'
        '<button type="submit">Sign in</button></form>'
    )
    return web.Response(text=body, content_type="text/html")


def _form_post_page(redirect_uri: str, payload: Mapping[str, str]) -> str:
    fields = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                     for k, v in payload.items())
    return (f'<!doctype html><body onload="document.forms[0].submit()">'
            f'<form method="post" action="{escape(redirect_uri)}">{fields}</form></body>')
