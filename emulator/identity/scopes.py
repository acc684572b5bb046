"""Scopes: which resource a request is for, and which OpenID Connect extras it asked for.

A resource scope is ``<resource>/<permission>``; the resource is the scope minus its last
path segment with trailing slashes removed (``https://org.crm.dynamics.com//.default`` →
``https://org.crm.dynamics.com``). One request may name one resource only.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.identity.errors import IdentityError
from emulator.origins import without_default_port

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
# Entra's answer when a request names no resource at all: a token for Microsoft Graph.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
DEFAULT_PERMISSION = ".default"


@dataclass(frozen=True)
class ScopeRequest:
    resource: str | None  # None: only OpenID Connect scopes were asked for
    resource_scopes: tuple[str, ...]  # as requested, e.g. https://host:8443/user_impersonation
    oidc: frozenset[str]

    @property
    def audience(self) -> str:
        return self.resource or GRAPH_APP_ID

    @property
    def permissions(self) -> list[str]:
        """The last path segments: ``user_impersonation``, ``.default``."""
        return [scope.rsplit("/", 1)[-1] for scope in self.resource_scopes]

    @property
    def is_default_only(self) -> bool:
        return bool(self.resource_scopes) and set(self.permissions) == {DEFAULT_PERMISSION}

    @property
    def wants_id_token(self) -> bool:
        return "openid" in self.oidc

    @property
    def wants_refresh_token(self) -> bool:
        return "offline_access" in self.oidc

    def granted(self) -> str:
        """The ``scope`` of the token response: resource scopes, then the OIDC ones."""
        return " ".join([*self.resource_scopes, *sorted(self.oidc)])

    def delegated_scp(self) -> str:
        """The ``scp`` claim of a user token (``.default`` grants what was consented)."""
        names = [p for p in self.permissions if p != DEFAULT_PERMISSION]
        return " ".join(names) or "user_impersonation"


def resource_of(scope: str) -> str:
    """The resource a scope names; ``https://h:443/x`` is ``https://h``, as Entra writes it."""
    if "/" not in scope:  # a bare permission such as User.Read means Microsoft Graph
        return GRAPH_APP_ID
    return without_default_port(scope.rsplit("/", 1)[0].rstrip("/"))


def parse_scopes(raw: str, resource_param: str | None = None) -> ScopeRequest:
    """Split a space-separated ``scope``; AADSTS70011 when it names two resources.

    ``resource_param`` is AD FS's v1-style ``resource``: it names the resource outright.
    """
    words = raw.split()
    oidc = frozenset(w for w in words if w in OIDC_SCOPES)
    resource_scopes = tuple(w for w in words if w not in OIDC_SCOPES)
    resources = {resource_of(s) for s in resource_scopes}
    if resource_param:
        resources = {without_default_port(resource_param.rstrip("/"))}
        resource_scopes = resource_scopes or (f"{resource_param.rstrip('/')}/user_impersonation",)
    if len(resources) > 1:
        detail = "The scopes requested belong to more than one resource: " + ", ".join(
            sorted(resources))
        raise IdentityError(70011, {"detail": detail})
    return ScopeRequest(next(iter(resources), None), resource_scopes, oidc)
