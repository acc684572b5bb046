"""The ``sdkmessage`` and ``sdkmessagefilter`` rows: which messages the environment
processes, and for which tables. Clients read them to learn, for example, whether a table
supports ``CreateMultiple`` (``sdkmessagefilters?$filter=sdkmessageid/name eq
'CreateMultiple' and primaryobjecttypecode eq 'account'``), and webhook registrations bind
their steps to them.
"""

from __future__ import annotations

import uuid

from emulator.dataverse.environment import Environment
from emulator.dataverse.schema import Table

_IDS = uuid.UUID("3c0a7a2e-5b1d-4c39-8f5e-0a7d2b6c9e41")
# name -> category; the table-bound ones get one filter per table.
TABLE_MESSAGES = ("Create", "Update", "Delete", "Retrieve", "RetrieveMultiple", "Upsert",
                  "CreateMultiple", "UpdateMultiple", "UpsertMultiple", "SetState")
OWNED_MESSAGES = ("Assign",)
UNBOUND_MESSAGES = ("Associate", "Disassociate", "BulkDelete", "WhoAmI", "WinOpportunity",
                    "RetrieveTotalRecordCount")


def message_id(name: str) -> str:
    return str(uuid.uuid5(_IDS, name))


def filter_id(message: str, table: str) -> str:
    return str(uuid.uuid5(_IDS, f"{message}/{table}"))


def _tables(env: Environment, name: str) -> Table:
    table = env.catalog.by_logical_name(name)
    assert table is not None
    return table


def add_messages(env: Environment) -> None:
    """The ``sdkmessage`` rows, and the filters of the tables there are now."""
    messages = _tables(env, "sdkmessage")
    rows = [{"sdkmessageid": message_id(name), "name": name, "categoryname": name,
             "isprivate": 0, "isactive": 1, "autotransact": 1, "expand": 0,
             "availability": 0, "workflowsdkstepenabled": int(name in TABLE_MESSAGES)}
            for name in (*TABLE_MESSAGES, *OWNED_MESSAGES, *UNBOUND_MESSAGES)]
    env.storage.insert_many(messages, rows)
    _insert_filters(env, [("Associate", "none"), ("Disassociate", "none")])
    for table in env.catalog.tables():
        add_filters(env, table)


def add_filters(env: Environment, table: Table) -> None:
    """One ``sdkmessagefilter`` per message that ``table`` supports."""
    names = [*TABLE_MESSAGES, *(OWNED_MESSAGES if "ownerid" in table.attributes else ())]
    if "statecode" not in table.attributes:
        names.remove("SetState")
    _insert_filters(env, [(name, table.logical_name) for name in names])


def _insert_filters(env: Environment, pairs: list[tuple[str, str]]) -> None:
    filters = _tables(env, "sdkmessagefilter")
    env.storage.insert_many(filters, [{
        "sdkmessagefilterid": filter_id(message, table), "primaryobjecttypecode": table,
        "secondaryobjecttypecode": "none", "_sdkmessageid_value": message_id(message),
        "_sdkmessageid_type": "sdkmessage", "iscustomprocessingstepallowed": 1,
        "isvisible": 1, "availability": 0} for message, table in pairs])
