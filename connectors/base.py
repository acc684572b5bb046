"""The one contract every connector implements. Connectors import this module (and the
shared HTTP/auth helpers), never ``runner``.

A connector module reads top-down: params models (pydantic, ``Field(description=…,
examples=…)``, secrets as ``SecretStr``) → spec → implementation. Each trigger and action
is registered under a dotted key such as ``dynamics365.upsert_record``; the engine looks
it up, validates the step's params with the spec's model (round two of recipe validation)
and calls it.

* An **action** receives validated params and a :class:`StepContext` and returns a JSON-able
  dict, the step's output that later templates read as ``steps.<id>``.
* A **trigger** is polled: given the cursor it returned last time (``None`` at first), it
  yields :class:`PollPage` objects. The engine stores each page's events as jobs *together
  with* that page's cursor in one transaction, so a cursor only ever moves past stored events.
* Every action runs under a **step identity** (:attr:`StepContext.step_key`: job id + step
  path + loop index) that stays the same when the step runs again: an inline retry, a job
  resumed after a crash, an operator's retry. An action whose repeat would double an effect
  derives from it what makes the repeat harmless (:meth:`StepContext.derived_id`: a
  client-generated primary key; an ``Idempotency-Key`` header) and says how it behaves in
  ``ActionSpec.idempotency`` (shown by ``validate`` and in the reference).
* A trigger over a timestamp may also **backfill**: given a range, it yields the events of
  that range's records, page by page, without reading or returning a cursor; the engine
  stores them as jobs (deduplicated by event key) and leaves the live cursor alone.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from connectors.errors import (
    AuthError,
    ConnectorError,
    FatalError,
    RecipeError,
    RetryableError,
    SkipEvent,
)

__all__ = [
    "Action",
    "ActionSpec",
    "AuthError",
    "Backfill",
    "ConnectorError",
    "Event",
    "FatalError",
    "FeedSpec",
    "Idempotency",
    "Params",
    "PollPage",
    "PushFeed",
    "RecipeError",
    "Registry",
    "RetryableError",
    "SkipEvent",
    "StepContext",
    "Trigger",
    "TriggerSpec",
]


class Params(BaseModel):
    """Base of every params model: unknown keys are errors, never silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Event:
    """One thing that happened: ``key`` is its identity (e.g. ``<id>:<version>``) for dedupe."""

    key: str
    record: dict[str, Any]
    kind: str = "upsert"  # created | updated | upsert | deleted | scheduled | received


@dataclass(frozen=True)
class PollPage:
    """Events to store as jobs, and the cursor that is valid once they are stored."""

    events: list[Event]
    cursor: dict[str, Any]


_STEP_NAMESPACE = uuid.UUID("6c3f1c7e-2b8e-4b1f-9a57-3d0f5e8a9c21")


@dataclass
class StepContext:
    """What an action or trigger may use: its connection, a logger bound to the job, and
    the step's identity.

    ``may_repeat`` is True when this step may already have taken effect once: the job ran
    before (a crash, a takeover, an operator's retry) or an earlier attempt of this run
    failed in a way that leaves its outcome unknown (a timeout, a reset, a 5xx). An action
    reads it to take "already there" answers (a 404 on a delete) as its own earlier effect.
    """

    recipe: str
    connection: Any = None  # the connection's client object (e.g. a Dataverse client)
    log: Any = None  # a structlog logger bound to recipe/job/step
    job_id: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    step_path: str | None = None  # e.g. "actions[1][3].actions[0]"
    may_repeat: bool = False
    _fallback: str = field(default_factory=lambda: str(uuid.uuid4()), repr=False)

    @property
    def step_key(self) -> str:
        """``<job id>/<step path>``: the same for every run of this step of this job. Outside
        a job (a direct call, a dry run) a random key, fixed for this context's lifetime."""
        if self.job_id and self.step_path:
            return f"{self.job_id}/{self.step_path}"
        return self._fallback

    def derived_id(self, *parts: object) -> str:
        """A GUID derived from the step identity (and ``parts``, e.g. a row index): the same
        on every run of the step, different for every step, row and job."""
        name = "/".join([self.step_key, *(str(p) for p in parts)])
        return str(uuid.uuid5(_STEP_NAMESPACE, name))


Idempotency = Literal["natural", "keyed", "conditional", "none"]
"""How an action behaves when its step runs again (docs/reference.md explains each):

* ``natural``: a repeat changes nothing (reads, updates, upserts, deletes);
* ``keyed``: made harmless by the step identity (a derived primary key, an Idempotency-Key);
* ``conditional``: harmless under a condition its docs state (e.g. a key in the fields);
* ``none``: cannot be made harmless (an unbound action with side effects)."""


class Action(Protocol):
    async def __call__(self, params: Any, ctx: StepContext) -> dict[str, Any]: ...


class Trigger(Protocol):
    def __call__(
        self, params: Any, cursor: Mapping[str, Any] | None, ctx: StepContext
    ) -> AsyncIterator[PollPage]: ...


class Backfill(Protocol):
    """Pages of the events of records stamped in ``[since, until)`` (``until=None``: up to
    now), with the same event keys as the trigger's polls; ``PollPage.cursor`` is unused."""

    def __call__(
        self, params: Any, since: datetime, until: datetime | None, ctx: StepContext
    ) -> AsyncIterator[PollPage]: ...


@dataclass(frozen=True)
class ActionSpec:
    key: str
    params: type[Params]
    run: Callable[[Any, StepContext], Awaitable[dict[str, Any]]]
    summary: str
    connection_types: tuple[str, ...] = ()  # empty: needs no connection
    # False: running it again after a crash changes nothing anyone relies on (``log``), so
    # the engine need not commit the earlier steps' results before it runs.
    side_effects: bool = True
    idempotency: Idempotency = "natural"
    idempotency_note: str = ""  # one sentence: what makes a repeat harmless, or why not
    kind: ClassVar[str] = "action"


class FeedSpec(Protocol):
    """How recipes with one trigger share a single read of a table (a **table feed**): the
    engine polls once with :meth:`feed_params` of all members and hands each member its own
    view of every event (:meth:`view`), so requests grow with tables, not recipes."""

    def group(self, params: Any) -> str:
        """What members must have in common to share a feed (e.g. the table); raises
        ``ValueError`` with the reason when this recipe's params cannot be served by one."""

    def feed_params(self, members: Sequence[Any]) -> Any:
        """The params the feed polls with: enough columns for every member, no filter."""

    def view(self, params: Any) -> Callable[[Event], Event | None]:
        """A member's view of a feed event: None when its own filter rejects the record,
        else the event with the record cut down to the member's columns."""

    def stamp(self, event: Event) -> str:
        """The event's timestamp (``YYYY-MM-DDTHH:MM:SS``), compared with a member's floor."""

    def position(self, cursor: Mapping[str, Any]) -> str | None:
        """How far a cursor of this trigger has read, comparable as text (None: nowhere)."""

    def floor(self, cursor: Mapping[str, Any]) -> str | None:
        """The earliest timestamp a cursor delivers (from ``since``; None: no limit)."""

    def starts_now(self, params: Any) -> bool:
        """A new recipe with these params wants only what changes from now on (so it can
        join a running feed at once, with the feed's position as its floor)."""


@runtime_checkable
class PushFeed(Protocol):
    """A feed whose service can also push changes (webhooks) — see ``docs/realtime.md``."""

    def mode(self, params: Any) -> str:
        """``poll``, ``push`` or ``hybrid``: how this recipe wants its changes."""

    async def register_push(self, client: Any, members: Sequence[Any], name: str, url: str,
                            key: str) -> Any:
        """Register (idempotently) what makes the service post changes of the members'
        table to ``url`` with ``key``; returns what :meth:`pushed` needs to read them."""

    def pushed(self, body: Mapping[str, Any], target: Any) -> list[Event]:
        """The events of one delivery, with the same keys a poll gives."""

    async def unregister_push(self, client: Any, name: str) -> bool:
        """Remove the registration named ``name``; False when there was none."""


@dataclass(frozen=True)
class TriggerSpec:
    key: str
    params: type[Params]
    poll: Callable[[Any, Mapping[str, Any] | None, StepContext], AsyncIterator[PollPage]]
    summary: str
    connection_types: tuple[str, ...] = ()
    backfill: Backfill | None = None  # None: this trigger cannot re-read a past range
    # The poll interval this trigger needs when the recipe sets none (a schedule's ``every``);
    # None: the envelope's default.
    cadence_s: Callable[[Any], float | None] | None = None
    feed: FeedSpec | None = None  # None: every recipe polls on its own
    kind: ClassVar[str] = "trigger"


class Registry:
    """Triggers and actions by dotted key."""

    def __init__(self) -> None:
        self.actions: dict[str, ActionSpec] = {}
        self.triggers: dict[str, TriggerSpec] = {}

    def add(self, spec: ActionSpec | TriggerSpec) -> None:
        table: dict[str, Any] = self.actions if isinstance(spec, ActionSpec) else self.triggers
        if spec.key in table:
            raise ValueError(f"{spec.kind} {spec.key!r} is registered twice")
        table[spec.key] = spec
