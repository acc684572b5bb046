"""Duplicate detection on create and update, when the request opts in with
``MSCRM.SuppressDuplicateDetection: false`` (reference: "Detect duplicate data using the Web
API"; by default the Web API suppresses it).

Rules are the defaults Dataverse publishes (accounts with the same name, contacts and leads
with the same email) plus a seed's ``duplicate_rules: [{table, attributes}]``; a row matches
when every rule column is set and equal (case-insensitive) on another row. A match is
Dataverse's 500 ``0x80040333`` with its ``innererror``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.dataverse import errors
from emulator.dataverse.schema import Table
from emulator.dataverse.storage import Value

if TYPE_CHECKING:
    from emulator.dataverse.environment import Environment

DUPLICATE_FOUND = "0x80040333"
HEADER = "MSCRM.SuppressDuplicateDetection"


@dataclass(frozen=True)
class Rule:
    table: str
    attributes: tuple[str, ...]


DEFAULT_RULES = (Rule("account", ("name",)), Rule("contact", ("emailaddress1",)),
                 Rule("lead", ("emailaddress1",)))


def wanted(headers: Mapping[str, str]) -> bool:
    return headers.get(HEADER, "").strip().lower() == "false"


def check(env: Environment, table: Table, values: Mapping[str, Value],
          record_id: str | None = None) -> None:
    """Raise the duplicate error if the row (``values``, merged over the stored row when
    ``record_id`` names one) matches another row under a rule of ``table``."""
    current = dict(env.storage.fetch(table, record_id) or {}) if record_id else {}
    row = {**current, **values}
    for rule in env.duplicate_rules:
        if rule.table != table.logical_name:
            continue
        key = {table.attributes[a].column: row.get(table.attributes[a].column)
               for a in rule.attributes}
        if any(v in (None, "") for v in key.values()):
            continue
        where = " AND ".join(f'"{c}" = ?' for c in key)
        params: list[Value] = list(key.values())
        if record_id:
            where += f' AND "{table.primary_id}" <> ?'
            params.append(record_id)
        if env.storage.db.execute(f"SELECT 1 FROM {table.sql_table} WHERE {where} LIMIT 1",
                                  params).fetchone():
            raise errors.DataverseError(500, DUPLICATE_FOUND, (
                "A record was not created or updated because a duplicate of the current "
                "record already exists."), inner_type="Microsoft.Crm.CrmException")
