"""HTTP side of the device code flow: the ``devicecode`` endpoints, the ``/devicelogin`` page
where a person enters the user code and signs in, and the test's shortcut to approve.

See :mod:`emulator.identity.device_codes` for the states a device code goes through.
"""

from __future__ import annotations

import hmac
from html import escape

from aiohttp import web

from emulator.identity.device_codes import LIFETIME_S
from emulator.identity.errors import IdentityError, error_response
from emulator.identity.realm import ADFS, resolve_realm
from emulator.identity.runtime import runtime_of
from emulator.identity.scopes import parse_scopes
from emulator.identity.token_request import read_form
from emulator.state import STATE

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def entra_device_code(request: web.Request) -> web.Response:
    return await device_code(request, request.match_info["tenant"])


async def adfs_device_code(request: web.Request) -> web.Response:
    return await device_code(request, ADFS)


async def device_code(request: web.Request, segment: str) -> web.Response:
    state = request.app[STATE]
    try:
        realm = resolve_realm(state.directory, state.base_url, segment)
        form = await read_form(request)
        client_id = form.get("client_id", "")
        app = state.directory.apps.get(client_id)
        if app is None:
            raise IdentityError(700016, {"client_id": client_id, "tenant": segment})
        scope = form.get("scope") or ""
        if not scope and not (realm.is_adfs and form.get("resource")):
            raise IdentityError(900144, {"name": "scope"})
        parse_scopes(scope, form.get("resource") if realm.is_adfs else None)
    except IdentityError as err:
        return error_response(err, state, adfs=segment.lower() == ADFS)
    code, record = runtime_of(state).device_codes.issue(client_id, scope, realm.segment)
    uri = f"{state.base_url}/devicelogin"
    return web.json_response({
        "user_code": record.user_code, "device_code": code, "verification_uri": uri,
        "expires_in": LIFETIME_S, "interval": state.directory.settings.device_code_interval_s,
        "message": (f"To sign in, use a web browser to open the page {uri} and enter the "
                    f"code {record.user_code} to authenticate.")}, headers=NO_STORE)


def _page(notice: str = "") -> web.Response:
    body = ("<!doctype html><title>Enter code</title><h1>Enter code (emulator)</h1>"
            + (f'<p id="notice">{escape(notice)}</p>' if notice else "")
            + '<form method="post"><label>Code <input name="user_code" autofocus></label>'
            '<label>Username <input name="username"></label>'
            '<label>Password <input name="password" type="password"></label>'
            '<button type="submit">Sign in</button></form>')
    return web.Response(text=body, content_type="text/html")


async def device_login_page(request: web.Request) -> web.Response:
    return _page()


async def device_login(request: web.Request) -> web.Response:
    state = request.app[STATE]
    form = await request.post()
    user = state.directory.user(str(form.get("username", "")))
    password = str(form.get("password", ""))
    if user is None or not hmac.compare_digest(password.encode(), user.password.encode()):
        return _page("Your account or password is incorrect.")
    try:
        runtime_of(state).device_codes.approve(str(form.get("user_code", "")), user.username)
    except IdentityError:
        return _page("That code didn't work. Check the code and try again.")
    return _page("You have signed in. You may now close this window.")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/adfs/oauth2/devicecode", adfs_device_code)
    app.router.add_post("/{tenant}/oauth2/v2.0/devicecode", entra_device_code)
    app.router.add_get("/devicelogin", device_login_page)
    app.router.add_post("/devicelogin", device_login)
