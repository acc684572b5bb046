"""Control routes under ``/_emulator/identity/``: the test's hands on the identity provider.

JSON in, JSON out; bad input is a 400 ``{"error": "<every problem>"}``.

* ``POST /apps`` (:class:`AppSpec`) → 201 the app, without its secret
* ``POST /users`` (:class:`UserSpec`) → 201 the user, without the password
* ``GET|POST /token-settings`` (:class:`TokenSettingsPatch`) → the settings now in force
* ``POST /users/{username}/revoke-refresh-tokens`` → ``{"username", "revoked": <count>}``
* ``POST /users/{username}/mfa`` ``{"required": bool}`` → the user
* ``POST /apps/{client_id}/consent`` ``{"granted": bool}`` → the app (AADSTS65001 while false)
* ``POST /device-codes/approve`` ``{"user_code", "username"}`` → the approval
* ``POST /auto-sign-in`` ``{"username": str | null}`` → ``{"username": …}``
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from emulator.directory import User
from emulator.identity.errors import IdentityError
from emulator.identity.runtime import runtime_of
from emulator.identity.specs import (
    AppSpec,
    TokenSettingsPatch,
    UserSpec,
    describe_app,
    describe_settings,
    describe_user,
    problems,
)
from emulator.state import STATE, EmulatorState

PREFIX = "/_emulator/identity"
M = TypeVar("M", bound=BaseModel)
routes = web.RouteTableDef()


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"the body must be a JSON object: {exc}") from exc
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return body


async def _parse(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(await _json_object(request))
    except ValidationError as exc:
        raise bad_request(problems(exc)) from exc


def _existing_user(state: EmulatorState, username: str) -> User:
    user = state.directory.user(username)
    if user is None:
        raise bad_request(f"no user {username!r}; create it with POST {PREFIX}/users")
    return user


@routes.post(f"{PREFIX}/apps")
async def create_app(request: web.Request) -> web.Response:
    spec = await _parse(request, AppSpec)
    app = request.app[STATE].directory.add_app(spec.registration())
    return web.json_response(describe_app(app), status=201)


@routes.post(f"{PREFIX}/users")
async def create_user(request: web.Request) -> web.Response:
    spec = await _parse(request, UserSpec)
    user = request.app[STATE].directory.add_user(spec.user())
    return web.json_response(describe_user(user), status=201)


@routes.get(f"{PREFIX}/token-settings")
async def get_token_settings(request: web.Request) -> web.Response:
    return web.json_response(describe_settings(request.app[STATE].directory.settings))


@routes.post(f"{PREFIX}/token-settings")
async def set_token_settings(request: web.Request) -> web.Response:
    patch = await _parse(request, TokenSettingsPatch)
    settings = request.app[STATE].directory.settings
    patch.apply(settings)
    return web.json_response(describe_settings(settings))


@routes.post(f"{PREFIX}/users/{{username}}/revoke-refresh-tokens")
async def revoke_refresh_tokens(request: web.Request) -> web.Response:
    state = request.app[STATE]
    user = _existing_user(state, request.match_info["username"])
    revoked = runtime_of(state).refresh_tokens.revoke_user(user.username)
    return web.json_response({"username": user.username, "revoked": revoked})


@routes.post(f"{PREFIX}/users/{{username}}/mfa")
async def set_mfa(request: web.Request) -> web.Response:
    state = request.app[STATE]
    user = _existing_user(state, request.match_info["username"])
    required = (await _json_object(request)).get("required")
    if not isinstance(required, bool):
        raise bad_request('the body must be {"required": true} or {"required": false}')
    user.mfa_required = required
    return web.json_response(describe_user(user))


@routes.post(f"{PREFIX}/apps/{{client_id}}/consent")
async def set_consent(request: web.Request) -> web.Response:
    """``{"granted": false}``: user sign-ins to the app get AADSTS65001 until it is true."""
    app = request.app[STATE].directory.apps.get(request.match_info["client_id"])
    if app is None:
        raise bad_request(f"no app {request.match_info['client_id']!r}; create it with POST "
                          f"{PREFIX}/apps")
    granted = (await _json_object(request)).get("granted")
    if not isinstance(granted, bool):
        raise bad_request('the body must be {"granted": true} or {"granted": false}')
    app.consented = granted
    return web.json_response(describe_app(app))


@routes.post(f"{PREFIX}/device-codes/approve")
async def approve_device_code(request: web.Request) -> web.Response:
    """``{"user_code": …, "username": …}``: that user signed in with the code."""
    state = request.app[STATE]
    body = await _json_object(request)
    user = _existing_user(state, str(body.get("username", "")))
    try:
        runtime_of(state).device_codes.approve(str(body.get("user_code", "")), user.username)
    except IdentityError as err:
        raise bad_request(str(err)) from err
    return web.json_response({"user_code": body.get("user_code"), "username": user.username})


@routes.post(f"{PREFIX}/auto-sign-in")
async def auto_sign_in(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _json_object(request)
    username = body.get("username")
    if username is not None and not isinstance(username, str):
        raise bad_request('the body must be {"username": "<user>"} or {"username": null}')
    if username is not None:
        username = _existing_user(state, username).username
    runtime_of(state).auto_sign_in_username = username
    return web.json_response({"username": username})
