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


def on_create(table: Table, row: Mapping[str, Value], system_user: str) -> dict[str, Value]:
    """``row`` with who created (and owns) it, unless it names an owner itself."""
    caller = CURRENT.get() or Caller(system_user)
    stamped = {**_lookup(table, "createdby", caller.user_id),
               **_lookup(table, "modifiedby", caller.user_id),
               **_lookup(table, "createdonbehalfby", caller.on_behalf_of),
               **_lookup(table, "modifiedonbehalfby", caller.on_behalf_of)}
    owner = _lookup(table, "ownerid", caller.user_id)
    return {**stamped, **{k: v for k, v in owner.items() if row.get(k) is None}, **{
        k: v for k, v in row.items() if k not in stamped}}


def on_update(table: Table, values: Mapping[str, Value], system_user: str) -> dict[str, Value]:
    caller = CURRENT.get() or Caller(system_user)
    return {**values, **_lookup(table, "modifiedby", caller.user_id),
            **_lookup(table, "modifiedonbehalfby", caller.on_behalf_of)}
