"""Where a request arrived: an Entra tenant (``/{tenant}/…``) or AD FS (``/adfs/…``).

Entra accepts a tenant GUID, a verified domain, ``organizations`` or ``common`` in the path;
the last two resolve to the tenant of the app or user that signs in.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.directory import Directory
from emulator.identity.errors import IdentityError

MULTI_TENANT_SEGMENTS = frozenset({"common", "organizations"})
ADFS = "adfs"


@dataclass(frozen=True)
class Realm:
    base_url: str  # e.g. https://localhost:8443
    segment: str  # as written in the URL: a GUID, a domain, common, organizations or adfs
    tenant_id: str | None  # the resolved tenant; None for common/organizations and AD FS

    @property
    def is_adfs(self) -> bool:
        return self.segment == ADFS

    def issuer(self, tenant_id: str | None) -> str:
        """The ``iss`` of tokens issued here for a subject in ``tenant_id``."""
        if self.is_adfs:
            return f"{self.base_url}/adfs"
        return f"{self.base_url}/{tenant_id or self.tenant_id or '{tenantid}'}/v2.0"

    def check_subject_tenant(self, subject_tenant: str, not_found: IdentityError) -> str:
        """The tenant tokens are issued in; ``not_found`` when the subject lives elsewhere."""
        if self.tenant_id is not None and self.tenant_id != subject_tenant:
            raise not_found
        return subject_tenant


def resolve_realm(directory: Directory, base_url: str, segment: str) -> Realm:
    """The realm of a URL path segment; AADSTS90002 for a tenant that does not exist."""
    lowered = segment.lower()
    if lowered == ADFS or lowered in MULTI_TENANT_SEGMENTS:
        return Realm(base_url, lowered, None)
    if lowered in directory.tenant_ids():
        return Realm(base_url, segment, lowered)
    tenant = directory.tenant_of_domain(lowered)
    if tenant is None:
        raise IdentityError(90002, {"tenant": segment})
    return Realm(base_url, segment, tenant)
