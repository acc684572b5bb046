"""Managed identities: the token endpoints a process running in Azure asks, with no secret.

* IMDS (VMs, AKS nodes): ``GET /metadata/identity/oauth2/token?api-version=2018-02-01&
  resource=…[&client_id=…]`` with ``Metadata: true``; answers ``expires_in`` as a string.
* App Service / Functions: ``GET /msi/token?api-version=2019-08-01&resource=…[&client_id=…]``
  with ``X-IDENTITY-HEADER`` (the secret App Service puts in ``IDENTITY_HEADER``); answers
  ``expires_on`` (UNIX seconds, as a string).

Without ``client_id`` the system-assigned identity answers; with it, the user-assigned one of
that client id. Errors follow the services: IMDS ``{"error", "error_description"}`` with 400
(no such identity, missing parameter or header), App Service ``{"statusCode", "message"}``.
Tokens are app-only access tokens signed by the emulator (``aud`` = the resource, ``oid`` =
the identity's object id, ``idtyp=app``), valid for the tenant's access-token lifetime.

Control: ``POST /_emulator/identity/managed-identities`` ``{"client_id"?, "system_assigned"?,
"tenant_id"?, "identity_header"?, "roles"?}`` → 201 the identity (with its identity header).
Seed: ``managed_identities:`` a list of the same bodies.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from emulator.directory import DEFAULT_TENANT
from emulator.identity.specs import problems
from emulator.seed import SeedError
from emulator.state import STATE, EmulatorState

IMDS_PATH = "/metadata/identity/oauth2/token"
APP_SERVICE_PATH = "/msi/token"
EXTENSION_KEY = "identity.managed"
PREFIX = "/_emulator/identity"


@dataclass
class ManagedIdentity:
    client_id: str
    object_id: str
    tenant_id: str
    system_assigned: bool
    identity_header: str
    roles: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "object_id": self.object_id,
                "tenant_id": self.tenant_id, "system_assigned": self.system_assigned,
                "identity_header": self.identity_header, "roles": self.roles}


class ManagedIdentitySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    system_assigned: bool = False
    tenant_id: str = DEFAULT_TENANT
    identity_header: str = Field(default_factory=lambda: secrets.token_urlsafe(24),
                                 min_length=1)
    roles: list[str] = Field(default_factory=list)

    def identity(self) -> ManagedIdentity:
        return ManagedIdentity(self.client_id, str(uuid.uuid4()), self.tenant_id.lower(),
                               self.system_assigned, self.identity_header, list(self.roles))


def identities_of(state: EmulatorState) -> dict[str, ManagedIdentity]:
    found = state.extensions.get(EXTENSION_KEY)
    if not isinstance(found, dict):
        found = state.extensions[EXTENSION_KEY] = {}
    return found


def _find(state: EmulatorState, client_id: str | None) -> ManagedIdentity | None:
    identities = identities_of(state).values()
    if client_id:
        return next((i for i in identities if i.client_id == client_id), None)
    return next((i for i in identities if i.system_assigned), None)


def _token(state: EmulatorState, identity: ManagedIdentity, resource: str) -> tuple[str, int]:
    now = int(state.clock.time())
    lifetime_s = state.directory.settings.access_token_lifetime_s
    claims = {
        "aud": resource.rstrip("/"), "iss": f"{state.base_url}/{identity.tenant_id}/v2.0",
        "iat": now, "nbf": now, "exp": now + lifetime_s, "tid": identity.tenant_id,
        "oid": identity.object_id, "sub": identity.object_id, "appid": identity.client_id,
        "azp": identity.client_id, "appidacr": "2", "idtyp": "app", "ver": "2.0",
        "roles": list(identity.roles), "xms_mirid": f"managed/{identity.client_id}",
        "uti": uuid.uuid4().hex,
    }
    return state.signer.sign(claims), lifetime_s


def _imds_error(description: str, status: int = 400) -> web.Response:
    return web.json_response({"error": "invalid_request", "error_description": description},
                             status=status)


async def imds_token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.headers.get("Metadata", "").lower() != "true":
        return _imds_error("Required metadata header not specified")
    query = request.query
    if not query.get("api-version"):
        return _imds_error("Required query variable 'api-version' is missing")
    resource = query.get("resource")
    if not resource:
        return _imds_error("Required audience parameter not specified")
    identity = _find(state, query.get("client_id"))
    if identity is None:
        return _imds_error("Identity not found")
    token, lifetime_s = _token(state, identity, resource)
    now = int(state.clock.time())
    return web.json_response({
        "access_token": token, "client_id": identity.client_id,
        "expires_in": str(lifetime_s), "expires_on": str(now + lifetime_s),
        "ext_expires_in": str(lifetime_s), "not_before": str(now),
        "resource": resource, "token_type": "Bearer"})


def _app_service_error(status: int, message: str) -> web.Response:
    return web.json_response({"statusCode": status, "message": message}, status=status)


async def app_service_token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    query = request.query
    resource = query.get("resource")
    if not query.get("api-version") or not resource:
        return _app_service_error(400, "api-version and resource are required")
    identity = _find(state, query.get("client_id"))
    if identity is None:
        return _app_service_error(400, "No managed identity found for the given client_id")
    header = request.headers.get("X-IDENTITY-HEADER", "")
    if not secrets.compare_digest(header.encode(), identity.identity_header.encode()):
        return _app_service_error(401, "The X-IDENTITY-HEADER is missing or wrong")
    token, lifetime_s = _token(state, identity, resource)
    return web.json_response({
        "access_token": token, "expires_on": str(int(state.clock.time()) + lifetime_s),
        "resource": resource, "token_type": "Bearer", "client_id": identity.client_id})


async def create_identity(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        spec = ManagedIdentitySpec.model_validate(await request.json())
    except ValidationError as exc:
        return web.json_response({"error": problems(exc)}, status=400)
    except ValueError as exc:
        return web.json_response({"error": f"the body must be a JSON object: {exc}"},
                                 status=400)
    identity = spec.identity()
    identities_of(state)[identity.client_id] = identity
    return web.json_response(identity.describe(), status=201)


def add_routes(app: web.Application) -> None:
    app.router.add_get(IMDS_PATH, imds_token)
    app.router.add_get(APP_SERVICE_PATH, app_service_token)
    app.router.add_post(f"{PREFIX}/managed-identities", create_identity)


def apply_seed(state: EmulatorState, doc: dict[str, Any]) -> None:
    """``managed_identities:``: a list of identities."""
    for index, item in enumerate(doc.get("managed_identities") or []):
        try:
            identity = ManagedIdentitySpec.model_validate(item).identity()
        except ValidationError as exc:
            raise SeedError(f"managed_identities[{index}]: {problems(exc)}") from exc
        identities_of(state)[identity.client_id] = identity
