"""Row events: what storage tells the event pipeline after each create, update and delete.

Storage emits a :class:`RowEvent` only for the (message, table) pairs its observer
:meth:`~Observer.watches`, so an environment with no registered steps pays nothing; the
event carries the row before and after (the images) and what the operation wrote (its
Target), as they were at that moment.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from emulator.dataverse.callers import CURRENT, Caller
from emulator.dataverse.schema import Table

Value = str | int | float | None


@dataclass(frozen=True)
class RowEvent:
    message: str  # Create, Update or Delete
    table: Table
    record_id: str
    target: Mapping[str, Value]  # columns the operation wrote, by SQL column
    pre: Mapping[str, Any] | None  # the stored row before (Update, Delete)
    post: Mapping[str, Any] | None  # the stored row after (Create, Update)
    caller: Caller | None = field(default_factory=CURRENT.get)


class Observer(Protocol):
    def watches(self, message: str, table: Table) -> bool: ...

    def observe(self, event: RowEvent) -> None: ...


# Deliveries a request produced, sent once it has committed (see pipeline.dispatcher).
PENDING: ContextVar[list[Any] | None] = ContextVar("dataverse_pending_deliveries",
                                                   default=None)
