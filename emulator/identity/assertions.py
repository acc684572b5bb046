"""Client assertions: certificate credentials and workload identity federation.

A confidential client may prove itself with a signed JWT instead of a secret
(``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``):

* **certificate**: signed with the private key of a certificate registered on the app; the
  header names it by ``x5t#S256`` (SHA-256 thumbprint, PS256) or ``x5t`` (SHA-1, RS256);
  ``aud`` is the token endpoint, ``iss`` = ``sub`` = the client id.
* **federated**: a token from a trusted issuer (here the emulator's own federation issuer,
  ``{base_url}/_emulator/federation``, standing in for a Kubernetes cluster) whose ``iss``,
  ``sub`` and ``aud`` match a federated identity credential registered on the app.

Time checks use the emulator clock. Failures carry Entra's codes: AADSTS700027 (no such
certificate, or a bad signature), AADSTS700024 (expired or not yet valid), AADSTS700021
(issuer/subject is not the client), AADSTS70021 (no matching federated credential),
AADSTS50027 (malformed JWT or wrong audience).

Control routes (``/_emulator/identity/…``): ``POST apps/{client_id}/certificates``
``{"certificate": PEM}`` → the thumbprints; ``POST apps/{client_id}/federated-credentials``
``{"subject", "audience"?, "issuer"?}``; ``POST federated-tokens`` ``{"subject",
"audience"?, "lifetime_s"?}`` → ``{"token", "issuer"}``. Seed: ``app_certificates:`` and
``federated_credentials:`` lists of the same bodies with ``client_id``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from emulator.directory import AppRegistration
from emulator.identity.errors import CATALOGUE, AadstsCode, IdentityError
from emulator.identity.realm import Realm
from emulator.identity.specs import problems
from emulator.seed import SeedError
from emulator.state import STATE, EmulatorState

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"  # what Entra expects in federated tokens
FEDERATION_PATH = "/_emulator/federation"
ASSERTED = "<proved with a client assertion>"  # marks the app confidential for this request
EXTENSION_KEY = "identity.credentials"
PREFIX = "/_emulator/identity"
NBF_SKEW_S = 300

CATALOGUE.update({
    50027: AadstsCode("invalid_request", "JWT token is invalid or malformed. {detail}"),
    700021: AadstsCode("invalid_client", "Client assertion application identifier doesn't "
                       "match 'client_id' parameter.", 401),
    700024: AadstsCode("invalid_client", "Client assertion is not within its valid time "
                       "range. Current time: {now}, assertion valid from {nbf}, expiry time "
                       "of assertion {exp}.", 401),
    700027: AadstsCode("invalid_client", "Client assertion failed signature validation. "
                       "[Reason - The key was not found., Thumbprint of key used by client: "
                       "'{thumbprint}'. Please visit the Azure Portal, Graph Explorer or "
                       "directly use MS Graph to see configured keys for app Id "
                       "'{client_id}'.]", 401),
    70021: AadstsCode("invalid_client", "No matching federated identity record found for "
                      "presented assertion. Assertion Issuer: '{issuer}'. Assertion Subject: "
                      "'{subject}'. Assertion Audience: '{audience}'.", 401),
})


@dataclass(frozen=True)
class FederatedCredential:
    issuer: str
    subject: str
    audience: str = EXCHANGE_AUDIENCE


@dataclass
class AppCredentials:
    """Certificates (by thumbprint) and federated credentials registered per client id."""

    keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # client -> thumbprint -> key
    federated: dict[str, list[FederatedCredential]] = field(default_factory=dict)

    def add_certificate(self, client_id: str, pem: str) -> dict[str, str]:
        cert = x509.load_pem_x509_certificate(pem.encode())
        der = cert.public_bytes(serialization.Encoding.DER)
        sha1, sha256 = hashlib.sha1(der).digest(), hashlib.sha256(der).digest()
        keys = self.keys.setdefault(client_id, {})
        for digest in (sha1, sha256):
            keys[_b64url(digest)] = cert.public_key()
        return {"client_id": client_id, "thumbprint_sha1": sha1.hex().upper(),
                "thumbprint_sha256": sha256.hex().upper()}

    def knows(self, client_id: str) -> bool:
        return bool(self.keys.get(client_id) or self.federated.get(client_id))


def credentials_of(state: EmulatorState) -> AppCredentials:
    found = state.extensions.get(EXTENSION_KEY)
    if not isinstance(found, AppCredentials):
        found = state.extensions[EXTENSION_KEY] = AppCredentials()
    return found


def federation_issuer(state: EmulatorState) -> str:
    return state.base_url.rstrip("/") + FEDERATION_PATH


def is_assertion(form: Mapping[str, str]) -> bool:
    return bool(form.get("client_assertion_type") or form.get("client_assertion"))


def authenticate_with_assertion(state: EmulatorState, realm: Realm, app: AppRegistration,
                                form: Mapping[str, str]) -> AppRegistration:
    """The app, confidential for this request, once its assertion checks out."""
    if form.get("client_assertion_type") != JWT_BEARER:
        raise IdentityError(9002313)
    assertion = form.get("client_assertion") or ""
    if not assertion:
        raise IdentityError(900144, {"name": "client_assertion"})
    if form.get("client_secret"):
        raise IdentityError(9002313)
    if app.client_secret is None and not credentials_of(state).knows(app.client_id):
        raise IdentityError(700025)
    header, claims = _unverified(assertion)
    if claims.get("iss") == federation_issuer(state):
        _check_federated(state, app, assertion, claims)
    else:
        _check_certificate(state, realm, app, assertion, header, claims)
    return app if app.client_secret else replace(app, client_secret=ASSERTED)


def _unverified(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise IdentityError(50027, {"detail": "The assertion is not a JWT."}) from None
    return header, claims


def _check_certificate(state: EmulatorState, realm: Realm, app: AppRegistration,
                       assertion: str, header: dict[str, Any], claims: dict[str, Any]) -> None:
    thumbprint = str(header.get("x5t#S256") or header.get("x5t") or "").rstrip("=")
    key = credentials_of(state).keys.get(app.client_id, {}).get(thumbprint)
    shown = _hex(thumbprint)
    if key is None:
        raise IdentityError(700027, {"thumbprint": shown, "client_id": app.client_id})
    algorithm = header.get("alg")
    if algorithm not in ("RS256", "PS256"):
        raise IdentityError(50027, {"detail": f"Unsupported algorithm {algorithm!r}."})
    try:
        jwt.decode(assertion, key, algorithms=[algorithm],
                   options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                            "verify_iat": False})
    except jwt.PyJWTError:
        raise IdentityError(700027, {"thumbprint": shown, "client_id": app.client_id}) \
            from None
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        raise IdentityError(700021)
    if _token_endpoint(realm) not in _audiences(claims):
        raise IdentityError(50027, {"detail": "The audience is not this token endpoint."})
    _check_times(state, claims)


def _check_federated(state: EmulatorState, app: AppRegistration, assertion: str,
                     claims: dict[str, Any]) -> None:
    try:
        jwt.decode(assertion, _signer_key(state), algorithms=["RS256"],
                   options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                            "verify_iat": False})
    except jwt.PyJWTError:
        raise IdentityError(50027, {"detail": "The federated token's signature is not "
                                              "valid."}) from None
    _check_times(state, claims)
    issuer, subject = str(claims.get("iss")), str(claims.get("sub"))
    audiences = _audiences(claims)
    for credential in credentials_of(state).federated.get(app.client_id, []):
        if (credential.issuer, credential.subject) == (issuer, subject) \
                and credential.audience in audiences:
            return
    raise IdentityError(70021, {"issuer": issuer, "subject": subject,
                                "audience": ",".join(audiences)})


def _signer_key(state: EmulatorState) -> Any:
    """The public key of the emulator's signer, from its published JWKS."""
    return jwt.algorithms.RSAAlgorithm.from_jwk(state.signer.jwks()["keys"][0])


def _check_times(state: EmulatorState, claims: dict[str, Any]) -> None:
    now = state.clock.time()
    exp, nbf = float(claims.get("exp") or 0), float(claims.get("nbf") or 0)
    if exp <= now or nbf > now + NBF_SKEW_S:
        raise IdentityError(700024, {"now": int(now), "nbf": int(nbf), "exp": int(exp)})


def _token_endpoint(realm: Realm) -> str:
    if realm.is_adfs:
        return f"{realm.base_url}/adfs/oauth2/token"
    return f"{realm.base_url}/{realm.segment}/oauth2/v2.0/token"


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return [a for a in (aud if isinstance(aud, list) else [aud]) if isinstance(a, str)]


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _hex(thumbprint: str) -> str:
    try:
        return base64.urlsafe_b64decode(thumbprint + "=" * (-len(thumbprint) % 4)).hex().upper()
    except ValueError:
        return thumbprint


# -- control routes and seed ------------------------------------------------------------

class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CertificateSpec(_Spec):
    client_id: str | None = None
    certificate: str = Field(min_length=1, description="PEM of the public certificate")


class FederatedCredentialSpec(_Spec):
    client_id: str | None = None
    subject: str = Field(min_length=1, examples=["system:serviceaccount:ops:recipe-runner"])
    audience: str = EXCHANGE_AUDIENCE
    issuer: str | None = Field(None, description="default: the emulator's federation issuer")


class FederatedTokenSpec(_Spec):
    subject: str = Field(min_length=1)
    audience: str = EXCHANGE_AUDIENCE
    lifetime_s: PositiveInt = 3600


routes = web.RouteTableDef()


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}),
                              content_type="application/json")


async def _spec(request: web.Request, model: type[_Spec]) -> Any:
    try:
        body = await request.json()
        return model.model_validate(body)
    except ValidationError as exc:
        raise _bad(problems(exc)) from exc
    except ValueError as exc:
        raise _bad(f"the body must be a JSON object: {exc}") from exc


def _existing_app(state: EmulatorState, client_id: str) -> str:
    if client_id not in state.directory.apps:
        raise _bad(f"no app {client_id!r}; create it with POST {PREFIX}/apps")
    return client_id


def register_certificate(state: EmulatorState, client_id: str, pem: str) -> dict[str, str]:
    try:
        return credentials_of(state).add_certificate(client_id, pem)
    except ValueError as exc:
        raise _bad(f"certificate: not a PEM certificate ({exc})") from exc


def register_federated(state: EmulatorState, client_id: str,
                       spec: FederatedCredentialSpec) -> dict[str, str]:
    credential = FederatedCredential(spec.issuer or federation_issuer(state), spec.subject,
                                     spec.audience)
    credentials_of(state).federated.setdefault(client_id, []).append(credential)
    return {"client_id": client_id, "issuer": credential.issuer,
            "subject": credential.subject, "audience": credential.audience}


@routes.post(PREFIX + "/apps/{client_id}/certificates")
async def add_certificate(request: web.Request) -> web.Response:
    state = request.app[STATE]
    spec = await _spec(request, CertificateSpec)
    client_id = _existing_app(state, request.match_info["client_id"])
    return web.json_response(register_certificate(state, client_id, spec.certificate),
                             status=201)


@routes.post(PREFIX + "/apps/{client_id}/federated-credentials")
async def add_federated_credential(request: web.Request) -> web.Response:
    state = request.app[STATE]
    spec = await _spec(request, FederatedCredentialSpec)
    client_id = _existing_app(state, request.match_info["client_id"])
    return web.json_response(register_federated(state, client_id, spec), status=201)


@routes.post(PREFIX + "/federated-tokens")
async def issue_federated_token(request: web.Request) -> web.Response:
    """A token as a Kubernetes cluster would project into a pod, from the emulator's issuer."""
    state = request.app[STATE]
    spec = await _spec(request, FederatedTokenSpec)
    now = int(state.clock.time())
    claims = {"iss": federation_issuer(state), "sub": spec.subject, "aud": spec.audience,
              "iat": now, "nbf": now, "exp": now + spec.lifetime_s, "jti": uuid.uuid4().hex}
    return web.json_response({"token": state.signer.sign(claims),
                              "issuer": federation_issuer(state)}, status=201)


def apply_seed(state: EmulatorState, doc: dict[str, Any]) -> None:
    """``app_certificates:`` and ``federated_credentials:`` (each item names ``client_id``)."""
    for index, item in enumerate(doc.get("app_certificates") or []):
        spec = _seed_item(CertificateSpec, item, f"app_certificates[{index}]")
        credentials_of(state).add_certificate(spec.client_id, spec.certificate)
    for index, item in enumerate(doc.get("federated_credentials") or []):
        spec = _seed_item(FederatedCredentialSpec, item, f"federated_credentials[{index}]")
        register_federated(state, spec.client_id, spec)


def _seed_item(model: type[_Spec], item: Any, where: str) -> Any:
    try:
        spec = model.model_validate(item)
    except ValidationError as exc:
        raise SeedError(f"{where}: {problems(exc)}") from exc
    if not getattr(spec, "client_id", None):
        raise SeedError(f"{where}: client_id is required")
    return spec
