"""What a fresh environment holds before anyone writes: its root business unit, the
``SYSTEM`` user, the System Administrator role and the SDK message catalogue."""

from __future__ import annotations

import uuid

from emulator.dataverse import sdk_messages
from emulator.dataverse.environment import Environment
from emulator.dataverse.security import ADMIN_ROLE


def bootstrap(env: Environment) -> None:
    env.storage.system_user_id = env.system_user_id
    units = env.catalog.by_logical_name("businessunit")
    users = env.catalog.by_logical_name("systemuser")
    assert units is not None and users is not None
    env.storage.insert(units, {"businessunitid": env.business_unit_id, "name": "emulator",
                               "isdisabled": 0})
    env.storage.insert(users, {
        "systemuserid": env.system_user_id, "fullname": "SYSTEM", "accessmode": 1,
        "isdisabled": 0, "_businessunitid_value": env.business_unit_id,
        "_businessunitid_type": "businessunit"})
    admin = env.security.add(env, ADMIN_ROLE, frozenset(), admin=True)
    env.security.assign(env, env.system_user_id, admin)
    sdk_messages.add_messages(env)


def new_system_user_id() -> str:
    return str(uuid.uuid4())
