"""From a verified token to the ``systemuser`` a request acts as.

An app-only token (``idtyp`` app) is the application user whose ``applicationid`` is the
token's ``appid``; a user token is the user whose ``azureactivedirectoryobjectid`` is its
``oid``. A caller with no ``systemuser`` yet is provisioned on first use, with System
Administrator, and with its ``oid`` as ``systemuserid``.

Impersonation (reference §1): ``CallerObjectId: <Entra object id>`` or ``MSCRMCallerID:
<systemuserid>`` makes the request act as that user, when the caller holds
``prvActOnBehalfOfAnotherUser``; rows then record the impersonated user in ``createdby``
and the caller in ``createdonbehalfby``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from emulator.dataverse import errors
from emulator.dataverse.callers import Caller
from emulator.dataverse.environment import Environment
from emulator.dataverse.security import ADMIN_ROLE, Role
from emulator.dataverse.urls import as_guid
from emulator.directory import Directory

ACT_ON_BEHALF = "prvActOnBehalfOfAnotherUser"


def _find(env: Environment, column: str, value: str) -> str | None:
    table = env.catalog.by_logical_name("systemuser")
    assert table is not None
    return env.storage.find_by_columns(table, {column: value})


def add_user(env: Environment, values: dict[str, Any], roles: list[Role]) -> str:
    """A ``systemuser`` with ``roles`` (a seeded application or system user)."""
    table = env.catalog.by_logical_name("systemuser")
    assert table is not None
    values.setdefault("systemuserid", values.get("azureactivedirectoryobjectid")
                      or str(uuid.uuid4()))
    user_id = env.storage.insert(table, {
        **values, "_businessunitid_value": env.business_unit_id,
        "_businessunitid_type": "businessunit", "isdisabled": 0})
    for role in roles:
        env.security.assign(env, user_id, role)
    return user_id


def _provision(env: Environment, values: dict[str, Any]) -> str:
    """A caller the seed did not name: full access, so roles stay opt-in."""
    admin = env.security.by_name(ADMIN_ROLE)
    assert admin is not None
    return add_user(env, values, [admin])


def _guid(text: object) -> str:
    return as_guid(str(text)) or str(uuid.uuid5(uuid.NAMESPACE_URL, str(text)))


def user_for(env: Environment, claims: Mapping[str, Any]) -> str:
    """The systemuserid behind a token, provisioned when it has none yet."""
    oid = _guid(claims.get("oid") or claims.get("sub") or claims.get("appid") or "")
    if claims.get("idtyp") == "app" and claims.get("appid"):
        app_id = _guid(claims["appid"])
        found = _find(env, "applicationid", app_id)
        return found or _provision(env, {"systemuserid": oid, "applicationid": app_id,
                                         "fullname": f"# {claims['appid']}",
                                         "accessmode": 4})
    found = _find(env, "azureactivedirectoryobjectid", oid)
    name = str(claims.get("name") or claims.get("upn") or oid)
    return found or _provision(env, {"systemuserid": oid, "azureactivedirectoryobjectid": oid,
                                     "fullname": name, "domainname": claims.get("upn"),
                                     "accessmode": 0})


def caller_for(env: Environment, directory: Directory, claims: Mapping[str, Any],
               headers: Mapping[str, str]) -> Caller:
    """Who the request acts as, after the impersonation headers."""
    user_id = user_for(env, claims)
    object_id, caller_id = headers.get("CallerObjectId"), headers.get("MSCRMCallerID")
    if not object_id and not caller_id:
        return Caller(user_id)
    if user_id in (as_guid(caller_id or ""), _find_by_object_id(env, object_id)):
        return Caller(user_id)  # acting as oneself is no impersonation
    env.security.require_privilege(env, user_id, ACT_ON_BEHALF)
    target = (_impersonated_by_object_id(env, directory, object_id) if object_id
              else _impersonated_by_id(env, caller_id or ""))
    return Caller(target, on_behalf_of=user_id) if target != user_id else Caller(user_id)


def _find_by_object_id(env: Environment, text: str | None) -> str | None:
    object_id = as_guid(text or "")
    return _find(env, "azureactivedirectoryobjectid", object_id) if object_id else None


def _impersonated_by_id(env: Environment, text: str) -> str:
    user_id = as_guid(text)
    table = env.catalog.by_logical_name("systemuser")
    assert table is not None
    if user_id is None or env.storage.fetch(table, user_id) is None:
        raise errors.not_found("systemuser", text)
    return user_id


def _impersonated_by_object_id(env: Environment, directory: Directory, text: str) -> str:
    object_id = as_guid(text)
    found = _find(env, "azureactivedirectoryobjectid", object_id) if object_id else None
    if found:
        return found
    person = next((u for u in directory.users.values() if u.object_id == object_id), None)
    if person is None or object_id is None:
        raise errors.DataverseError(404, errors.OBJECT_DOES_NOT_EXIST, (
            f"No user with Microsoft Entra object id '{text}' exists in this organization."))
    return _provision(env, {"systemuserid": object_id, "azureactivedirectoryobjectid": object_id,
                            "fullname": person.display_name or person.username,
                            "domainname": person.username, "accessmode": 0})
