"""``statecode`` and ``statuscode``: rows are created active, and the two always agree.

Dataverse creates a row in its table's first state (``statecode`` 0, "Active" or "Open")
with that state's default status reason. A write naming only one of the two gets the
other filled in: a state brings its default status, a status brings the state it belongs
to. Naming both when the status belongs to another state is Dataverse's
``InvalidStateCodeStatusCode`` (0x80048408).
"""

from __future__ import annotations

from collections.abc import Mapping

from emulator.dataverse import errors
from emulator.dataverse.schema import Table

INVALID_STATE_STATUS = "0x80048408"
ACTIVE = 0

Value = str | int | float | None


def on_create(table: Table, values: Mapping[str, Value]) -> Mapping[str, Value]:
    """``values`` with the state and status a new row starts in."""
    if "statecode" not in table.attributes:
        return values
    row = dict(values)
    if row.get("statecode") is None and row.get("statuscode") is None:
        row["statecode"] = ACTIVE
    return _agreeing(table, row)


def on_update(table: Table, values: Mapping[str, Value]) -> Mapping[str, Value]:
    """``values`` with the other half of a state change filled in (unchanged otherwise)."""
    if "statecode" not in table.attributes or not (
            "statecode" in values or "statuscode" in values):
        return values
    return _agreeing(table, dict(values))


def _agreeing(table: Table, row: dict[str, Value]) -> dict[str, Value]:
    state, status = row.get("statecode"), row.get("statuscode")
    if state is None and status is None:
        raise _invalid(table)  # a row always has a state; clearing it is refused
    status_states = table.attributes["statuscode"].option_states
    if status is None:
        row["statuscode"] = table.default_status(int(state or 0))
    elif state is None:
        row["statecode"] = status_states.get(int(status))
    elif status_states.get(int(status)) != int(state):
        raise _invalid(table)
    return row


def _invalid(table: Table) -> errors.DataverseError:
    return errors.DataverseError(400, INVALID_STATE_STATUS, (
        "State code is invalid or state code is valid but status code is invalid for a "
        f"specified state code. (entity '{table.logical_name}')"))
