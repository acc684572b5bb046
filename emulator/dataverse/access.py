"""Which privileges a Web API request needs on its table, checked for the current caller.

Reads need Read; a create Create; an update Write (an upsert that creates, Create); a
delete Delete; associating (``$ref``) Append on the row's table. Bulk messages need what
their single-row twins need. Metadata and ``WhoAmI`` need nothing.
"""

from __future__ import annotations

from emulator.dataverse.callers import CURRENT
from emulator.dataverse.environment import Environment
from emulator.dataverse.schema import Table
from emulator.dataverse.urls import Segment

BOUND_KINDS = {"CreateMultiple": ("Create",), "UpdateMultiple": ("Write",),
               "UpsertMultiple": ("Create", "Write"), "new_Escalate": ("Write",)}
PREFIX = "Microsoft.Dynamics.CRM."


def kinds(method: str, rest: list[Segment], keyed: bool) -> tuple[str, ...]:
    """The privileges a request needs, from its method and the segments after the table."""
    if rest and rest[-1].name.startswith(PREFIX):
        return BOUND_KINDS.get(rest[-1].name.removeprefix(PREFIX), ("Read",))
    if rest and rest[-1].name == "$ref":
        return ("Append",)
    if method == "GET":
        return ("Read",)
    if method == "POST":
        return ("Create",) if not keyed else ("Write",)
    if method == "DELETE":
        return ("Write",) if rest else ("Delete",)
    if method == "PATCH" and not rest:
        return ()  # an upsert: Create or Write, decided once it is known whether the row exists
    return ("Write",)


def authorize(env: Environment, table: Table, needed: tuple[str, ...]) -> None:
    """403 unless the current caller holds each privilege on ``table``."""
    caller = CURRENT.get()
    if caller is None:
        return  # the control plane and the emulator itself
    for kind in needed:
        env.security.require(env, caller.user_id, kind, table)
