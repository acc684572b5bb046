"""Entra ID (v2.0) and AD FS, emulated on the emulator's one port.

Entra under ``/{tenant}/`` (a tenant GUID, a domain, ``organizations`` or ``common``):
``v2.0/.well-known/openid-configuration``, ``oauth2/v2.0/authorize``, ``oauth2/v2.0/token``,
``discovery/v2.0/keys``; plus ``/common/discovery/instance`` and ``/common/userrealm/{user}``.
AD FS under ``/adfs/``. Control routes under ``/_emulator/identity/`` (see :mod:`.control`).

Modules: ``realm`` (which tenant), ``scopes`` (which resource), ``errors`` (AADSTS catalogue),
``token_request`` (form + client auth), ``grants`` (the four grants), ``codes`` and
``refresh_tokens`` (what is outstanding), ``claims`` (JWT contents), ``token_endpoint``,
``authorize``, ``discovery``, ``adfs``, ``specs`` and ``control``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from emulator.identity import (
    adfs,
    assertions,
    authorize,
    control,
    device_flow,
    discovery,
    managed,
    token_endpoint,
)
from emulator.identity.runtime import install, runtime_of
from emulator.identity.specs import AppSpec, TokenSettingsPatch, UserSpec, problems
from emulator.seed import SeedError
from emulator.state import EmulatorState

__all__ = ["apply_seed", "runtime_of", "setup"]
M = TypeVar("M", bound=BaseModel)


def setup(app: web.Application, state: EmulatorState) -> None:
    install(state)
    app.add_routes(control.routes)
    app.add_routes(assertions.routes)  # certificate and federated credentials
    managed.add_routes(app)  # IMDS and App Service managed-identity endpoints
    adfs.add_routes(app)  # before the /{tenant}/ routes, so "adfs" is never taken for a tenant
    device_flow.add_routes(app)
    app.add_routes(discovery.routes)
    tenant = "/{tenant}/oauth2/v2.0"
    app.router.add_get(f"{tenant}/authorize", authorize.entra_authorize)
    app.router.add_post(f"{tenant}/authorize", authorize.entra_authorize)
    app.router.add_post(f"{tenant}/token", token_endpoint.entra_token)


def apply_seed(state: EmulatorState, doc: dict[str, Any]) -> None:
    """Add the seed's ``apps:`` and ``users:``, and apply its ``token_settings:``."""
    directory = state.directory
    for index, item in enumerate(_section(doc, "apps", list)):
        directory.add_app(_validated(AppSpec, item, f"apps[{index}]").registration())
    for index, item in enumerate(_section(doc, "users", list)):
        directory.add_user(_validated(UserSpec, item, f"users[{index}]").user())
    settings = doc.get("token_settings")
    if settings is not None:
        _validated(TokenSettingsPatch, settings, "token_settings").apply(directory.settings)
    assertions.apply_seed(state, doc)
    managed.apply_seed(state, doc)


def _section(doc: dict[str, Any], name: str, kind: type) -> Any:
    value = doc.get(name) or kind()
    if not isinstance(value, kind):
        raise SeedError(f"seed section {name!r} must be a {kind.__name__}")
    return value


def _validated(model: type[M], item: Any, where: str) -> M:
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        raise SeedError(f"{where}: {problems(exc)}") from exc
