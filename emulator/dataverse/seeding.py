"""A seed's Dataverse sections: ``tables``, ``relationships`` (N:N), ``rows``,
``security_roles``, ``application_users`` and ``system_users``.

::

    relationships:
      - {name: new_project_contact, entity1: new_project, entity2: contact}
    security_roles:
      - name: Lead reader
        privileges: {lead: [read], contacts: [create, read, write]}   # or: all
        misc: [ActOnBehalfOfAnotherUser]
    application_users:                     # app-only tokens of this client id
      - {application_id: 3333…, roles: [Lead reader]}
    system_users:                          # delegated tokens of this Entra user
      - {username: ada@emulator.test, roles: [Lead reader]}
    duplicate_rules:                       # beside the defaults (account name, emails)
      - {table: contact, attributes: [lastname, telephone1]}
    duplicate_detection: false             # drop the default rules too

A caller no seed names has System Administrator (full access), so roles are opt-in.
"""

from __future__ import annotations

from typing import Any

from emulator.dataverse import control, principals
from emulator.dataverse.duplicates import Rule
from emulator.dataverse.environment import Environment
from emulator.dataverse.security import Role, privileges_from_seed
from emulator.dataverse.tables import many_to_many, table_from_seed
from emulator.directory import Directory


class SeedProblem(ValueError):
    pass


def apply(env: Environment, directory: Directory, doc: dict[str, Any]) -> None:
    for table_doc in doc.get("tables") or []:
        env.add_table(table_from_seed(table_doc))
    for item in doc.get("relationships") or []:
        env.add_many_to_many(many_to_many(str(item["name"]), str(item["entity1"]),
                                          str(item["entity2"]), item.get("intersect")))
    for name, rows in (doc.get("rows") or {}).items():
        table = env.catalog.by_logical_name(name) or env.catalog.by_entity_set(name)
        if table is None:
            raise SeedProblem(f"seed rows: no table named {name!r}")
        control.insert_rows(env, table, list(rows))
    for index, item in enumerate(doc.get("security_roles") or []):
        where = f"security_roles[{index}]"
        env.security.add(env, str(item["name"]), privileges_from_seed(item, env.catalog, where))
    for index, item in enumerate(doc.get("application_users") or []):
        _application_user(env, item, f"application_users[{index}]")
    for index, item in enumerate(doc.get("system_users") or []):
        _system_user(env, directory, item, f"system_users[{index}]")
    if doc.get("duplicate_detection") is False:
        env.duplicate_rules.clear()
    for index, item in enumerate(doc.get("duplicate_rules") or []):
        env.duplicate_rules.append(_rule(env, item, f"duplicate_rules[{index}]"))


def _rule(env: Environment, item: dict[str, Any], where: str) -> Rule:
    table = env.catalog.by_logical_name(str(item.get("table")))
    names = tuple(str(a) for a in item.get("attributes") or [])
    if table is None or not names or any(a not in table.attributes for a in names):
        raise SeedProblem(f"{where}: give a table and some of its columns as attributes")
    return Rule(table.logical_name, names)


def _roles(env: Environment, item: dict[str, Any], where: str) -> list[Role]:
    found = []
    for name in item.get("roles") or []:
        role = env.security.by_name(str(name))
        if role is None:
            raise SeedProblem(f"{where}.roles: no security role named {name!r}")
        found.append(role)
    return found


def _application_user(env: Environment, item: dict[str, Any], where: str) -> None:
    app_id = str(item["application_id"]).lower()
    roles = _roles(env, item, where)
    user_id = principals.add_user(env, {
        "applicationid": app_id, "fullname": str(item.get("fullname") or f"# {app_id}"),
        "accessmode": 4}, roles)
    item_id = item.get("systemuserid")
    if item_id and item_id != user_id:
        raise SeedProblem(f"{where}: systemuserid cannot be set for an existing user")


def _system_user(env: Environment, directory: Directory, item: dict[str, Any],
                 where: str) -> None:
    person = directory.user(str(item.get("username", "")))
    object_id = str(item.get("object_id") or (person.object_id if person else ""))
    if not object_id:
        raise SeedProblem(f"{where}: give the username of a seeded user, or its object_id")
    principals.add_user(env, {
        "azureactivedirectoryobjectid": object_id, "domainname": item.get("username"),
        "fullname": str(item.get("fullname") or (person.display_name if person else "")
                        or item.get("username") or object_id), "accessmode": 0},
        _roles(env, item, where))
