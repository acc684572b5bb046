"""Who a write is done for: the ``systemuser`` behind the request, or the one it impersonates.

Handlers set :data:`CURRENT` once per Web API request (a ``$batch`` part is a request too);
storage reads it to stamp ``createdby``/``modifiedby``/``ownerid`` and, when impersonating,
``createdonbehalfby``/``modifiedonbehalfby`` with the real caller. Work done outside a
request (the control plane, the demo generator, seed rows) is done by the ``SYSTEM`` user.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from emulator.dataverse.schema import Table

Value = str | int | float | None


@dataclass(frozen=True)
class Caller:
    user_id: str  # the systemuser the work is done as
    on_behalf_of: str | None = None  # the systemuser that asked, when impersonating


CURRENT: ContextVar[Caller | None] = ContextVar("dataverse_caller", default=None)


@contextmanager
def acting_as(caller: Caller) -> Iterator[None]:
    token = CURRENT.set(caller)
    try:
        yield
    finally:
        CURRENT.reset(token)


def _lookup(table: Table, name: str, user_id: str | None) -> dict[str, Value]:
    attr = table.attributes.get(name)
    if attr is None:
        return {}
    return {attr.column: user_id, attr.type_column: "systemuser" if user_id else None}


@dataclass(frozen=True)
class CreateStamps:
    """What every row a caller creates in one table gets (worked out once per write)."""

    stamped: dict[str, Value]  # createdby, modifiedby and their …onbehalfby twins
    owner: dict[str, Value]  # ownerid, unless the row names an owner

    def apply(self, row: Mapping[str, Value]) -> dict[str, Value]:
        merged = {**self.stamped, **self.owner, **row}
        merged.update(self.stamped)
        for column, value in self.owner.items():
            if merged.get(column) is None:
                merged[column] = value
        return merged


def create_stamps(table: Table, system_user: str) -> CreateStamps:
    caller = CURRENT.get() or Caller(system_user)
    stamped = {**_lookup(table, "createdby", caller.user_id),
               **_lookup(table, "modifiedby", caller.user_id),
               **_lookup(table, "createdonbehalfby", caller.on_behalf_of),
               **_lookup(table, "modifiedonbehalfby", caller.on_behalf_of)}
    return CreateStamps(stamped, _lookup(table, "ownerid", caller.user_id))


def on_create(table: Table, row: Mapping[str, Value], system_user: str) -> dict[str, Value]:
    """``row`` with who created (and owns) it, unless it names an owner itself."""
    return create_stamps(table, system_user).apply(row)


def on_update(table: Table, values: Mapping[str, Value], system_user: str) -> dict[str, Value]:
    caller = CURRENT.get() or Caller(system_user)
    return {**values, **_lookup(table, "modifiedby", caller.user_id),
            **_lookup(table, "modifiedonbehalfby", caller.on_behalf_of)}
