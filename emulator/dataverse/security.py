"""Security roles and the privilege check Dataverse makes on every operation.

A role grants privileges by name (``prvReadLead``, ``prvCreateContact``,
``prvActOnBehalfOfAnotherUser``); ``System Administrator`` grants all. A ``systemuser`` holds
roles through ``systemuserroles_association``. A missing privilege is Dataverse's 403
``0x80040220`` "Principal user (Id=…) is missing prv… privilege …".

Roles are opt-in: a caller the seed does not name is provisioned with System Administrator,
so seeds written before roles existed keep full access.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulator.dataverse import errors
from emulator.dataverse.metadata_model import OBJECT_TYPE_CODES, privilege_name
from emulator.dataverse.metadata_types import metadata_id
from emulator.dataverse.schema import Table
from emulator.dataverse.tables import Catalog

if TYPE_CHECKING:
    from emulator.dataverse.environment import Environment

ADMIN_ROLE = "System Administrator"
PRIVILEGE_DENIED = "0x80040220"
KINDS = {"create": "Create", "read": "Read", "write": "Write", "delete": "Delete",
         "append": "Append", "appendto": "AppendTo", "assign": "Assign", "share": "Share"}
USER_ROLES = "systemuserroles_association"


@dataclass(frozen=True)
class Role:
    id: str
    name: str
    privileges: frozenset[str]
    admin: bool = False


class Security:
    """The roles of one environment; assignments live in the intersect table."""

    def __init__(self) -> None:
        self.roles: dict[str, Role] = {}  # by id

    def by_name(self, name: str) -> Role | None:
        return next((r for r in self.roles.values() if r.name.lower() == name.lower()), None)

    def add(self, env: Environment, name: str, privileges: frozenset[str],
            admin: bool = False) -> Role:
        table = env.catalog.by_logical_name("role")
        assert table is not None
        role_id = env.storage.insert(table, {"name": name, "_businessunitid_value":
                                             env.business_unit_id,
                                             "_businessunitid_type": "businessunit"})
        role = Role(role_id, name, privileges, admin)
        self.roles[role_id] = role
        return role

    def assign(self, env: Environment, user_id: str, role: Role) -> None:
        relation = env.catalog.many_to_many_named(USER_ROLES)
        if role.id not in env.intersects.related(relation, "systemuser", user_id):
            env.intersects.associate(relation, user_id, role.id)

    def roles_of(self, env: Environment, user_id: str) -> list[Role]:
        relation = env.catalog.many_to_many_named(USER_ROLES)
        ids = env.intersects.related(relation, "systemuser", user_id)
        return [self.roles[i] for i in ids if i in self.roles]

    def has(self, env: Environment, user_id: str, privilege: str) -> bool:
        roles = self.roles_of(env, user_id)
        return any(r.admin or privilege in r.privileges for r in roles)

    def require(self, env: Environment, user_id: str, kind: str, table: Table) -> None:
        """403 unless ``user_id`` holds ``prv<kind><Table>``."""
        self.require_privilege(env, user_id, privilege_name(table, kind), table)

    def require_privilege(self, env: Environment, user_id: str, privilege: str,
                          table: Table | None = None) -> None:
        if self.has(env, user_id, privilege):
            return
        roles = self.roles_of(env, user_id)
        count = sum(len(r.privileges) for r in roles)
        where = ""
        if table is not None:
            code = OBJECT_TYPE_CODES.get(table.logical_name, 0)
            where = f" on OTC={code} for entity '{table.logical_name}'"
        raise errors.DataverseError(403, PRIVILEGE_DENIED, (
            f"Principal user (Id={user_id}, type=8, roleCount={len(roles)}, "
            f"privilegeCount={count}, accessMode=0), is missing {privilege} privilege "
            f"(Id={metadata_id('privilege', privilege)}){where}. "
            f"context.Caller={user_id}"))


def privileges_from_seed(doc: dict[str, Any], catalog: Catalog, where: str) -> frozenset[str]:
    """``{privileges: {lead: [read, write], contacts: all}, misc: [ActOnBehalfOfAnotherUser]}``
    -> privilege names (``prvReadLead``, …, ``prvActOnBehalfOfAnotherUser``)."""
    names = {f"prv{misc}" for misc in doc.get("misc") or []}
    for name, kinds in (doc.get("privileges") or {}).items():
        table = catalog.by_logical_name(str(name)) or catalog.by_entity_set(str(name))
        if table is None:
            raise ValueError(f"{where}: no table named {name!r}")
        wanted = list(KINDS) if kinds == "all" else [str(k).lower() for k in kinds]
        unknown = [k for k in wanted if k not in KINDS]
        if unknown:
            raise ValueError(f"{where}: unknown privilege {unknown[0]!r} for {name}; use "
                             f"{', '.join(KINDS)} or all")
        names.update(privilege_name(table, KINDS[k]) for k in wanted)
    return frozenset(names)
