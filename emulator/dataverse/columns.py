"""Column builders shared by the built-in tables, the system tables and seed tables.

Every table gets the system columns Dataverse gives it: its id, ``createdon``/``modifiedon``,
``versionnumber`` and who created and last changed a row (``createdby``/``modifiedby`` and
their ``…onbehalfby`` twins, lookups to ``systemuser``); user-owned tables also get
``ownerid``.
"""

from __future__ import annotations

from collections.abc import Iterable

from emulator.dataverse.schema import Attribute, AttributeType

T = AttributeType


def attrs(*attributes: Attribute) -> dict[str, Attribute]:
    return {a.name: a for a in attributes}


def system_columns(primary_id: str) -> tuple[Attribute, ...]:
    return (
        Attribute(primary_id, T.UNIQUEIDENTIFIER, read_only=True),
        Attribute("createdon", T.DATETIME, read_only=True),
        Attribute("modifiedon", T.DATETIME, read_only=True),
        Attribute("versionnumber", T.INTEGER, read_only=True),
        *(_user_lookup(name, read_only=True) for name in USER_STAMPS),
    )


# The lookups to systemuser every row carries, set by the platform (see callers.py).
USER_STAMPS = ("createdby", "modifiedby", "createdonbehalfby", "modifiedonbehalfby")


def _user_lookup(name: str, read_only: bool) -> Attribute:
    return Attribute(name, T.LOOKUP, targets=("systemuser",), read_only=read_only,
                     lookup_kind="Owner" if name == "ownerid" else "Lookup")


def owned_columns() -> tuple[Attribute, ...]:
    """``ownerid`` of a user-owned table: the creator unless the row names another owner."""
    return (_user_lookup("ownerid", read_only=False),)


def state_columns(states: dict[int, str],
                  statuses: dict[int, tuple[str, int]]) -> tuple[Attribute, ...]:
    """``statecode`` (State) and ``statuscode`` (Status); ``statuses`` maps each status
    reason to (label, the state it belongs to). A state's first status is its default."""
    return (Attribute("statecode", T.STATE, options=states),
            Attribute("statuscode", T.STATUS, options={v: label for v, (label, _) in
                                                       statuses.items()},
                      option_states={v: state for v, (_, state) in statuses.items()}))


def string(name: str, max_length: int = 100) -> Attribute:
    return Attribute(name, T.STRING, max_length=max_length)


def pick(name: str, labels: Iterable[str], first: int = 1) -> Attribute:
    return Attribute(name, T.PICKLIST, options=dict(enumerate(labels, start=first)))


def lookup(name: str, *targets: str) -> Attribute:
    kind = "Customer" if set(targets) == {"account", "contact"} else "Lookup"
    return Attribute(name, T.LOOKUP, targets=targets, lookup_kind=kind)


FULLNAME = Attribute("fullname", T.STRING, max_length=160, read_only=True, formula=(
    "nullif(trim(coalesce(firstname, '') || ' ' || coalesce(lastname, '')), '')"))
ACTIVE = {0: "Active", 1: "Inactive"}
ACTIVE_STATUS = {1: ("Active", 0), 2: ("Inactive", 1)}


