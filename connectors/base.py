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
* A **connection type** (:class:`ConnectionTypeSpec`) turns a connection of
  ``connections.yaml`` into the client object steps receive as ``ctx.connection``, and may
  check recipe steps against the live service (``validate --online``).
* A :class:`Connector` bundles triggers, actions and connection types. Packages register one
  under the ``recipe_runner.connectors`` entry-point group; the built-in connectors are
  registered the same way (docs/connectors.md).
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
    "ClientContext",
    "ConnectionSettings",
    "ConnectionTypeSpec",
    "Connector",
    "ConnectorError",
    "Event",
    "FatalError",
    "FeedSpec",
    "Finding",
    "Idempotency",
    "OnlineUse",
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
    # changed_columns: given the params, a function of an event -> (record id, digest of the
    # watched columns), or None when the recipe fires on every change (see
    # runner/store/changes_seen.py)
    change_digest: Callable[[Any], Callable[[Event], tuple[str, str]] | None] | None = None
    kind: ClassVar[str] = "trigger"


# -- connection types and connectors ---------------------------------------------------

FieldPath = tuple[str | int, ...]
Anchor = Literal["value", "key", "parent"]


@dataclass(frozen=True)
class Finding:
    """One problem an online check found in a step's params: ``path`` is relative to the
    step (``("table",)``), ``at`` says where to point (the value, its key, the parent)."""

    path: FieldPath
    message: str
    at: Anchor = "value"


@dataclass(frozen=True)
class OnlineUse:
    """One trigger or action step, as ``validate --online`` hands it to a check."""

    spec_key: str  # e.g. "dynamics365.upsert_record"
    params: Mapping[str, Any]  # as written in the recipe (templates not rendered)
    model: type[Params]
    trigger: bool = False


OnlineChecker = Callable[[OnlineUse], Awaitable[list[Finding]]]


@dataclass(frozen=True)
class ClientContext:
    """What a connection type's client factory gets.

    ``settings`` is the connection's validated model (the connection type's ``settings``
    model for a plugin; ``None`` for the client of steps that name no connection);
    ``tokens`` a ``connectors.auth.TokenProvider`` when the type ``uses_tokens``; ``hooks``
    observers of throttling and retries (the daemon's metrics); ``proxy`` the
    ``connectors.proxy.ProxyPolicy`` every request of this connection must follow;
    ``purpose`` is ``"check"`` for ``validate --online`` (give up quickly) or ``"run"``.
    """

    name: str | None
    settings: Any
    proxy: Any
    tokens: Any = None
    hooks: Any = None
    purpose: Literal["run", "check"] = "run"


class ConnectionSettings(BaseModel):
    """Base of a plugin connection type's settings model (its keys in connections.yaml).
    Subclasses declare ``type: Literal["<key>"]`` and their own fields; secrets as
    ``SecretStr`` take ``${env:…}``, ``${file:…}`` and ``${credential:…}`` references."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str


@dataclass(frozen=True)
class ConnectionTypeSpec:
    """A connection type: how a configured connection becomes the client its steps use.

    ``client`` builds the client object (called once per connection, on first use; an
    ``async close()`` on it is awaited at shutdown). ``settings`` is the model of the
    connection's keys (``None`` only for the types recipe-runner's own connections file
    defines: ``dynamics365``, ``dynamics_fo``, ``http``). ``online_check`` gives, for an
    open client, the function ``validate --online`` calls per step. ``anonymous``: steps
    that name no connection get this type's client, built with ``settings=None``.
    """

    key: str
    client: Callable[[ClientContext], Any]
    summary: str = ""
    settings: type[BaseModel] | None = None
    uses_tokens: bool = False
    online_check: Callable[[Any], OnlineChecker] | None = None
    anonymous: bool = False
    kind: ClassVar[str] = "connection type"


@dataclass(frozen=True)
class Connector:
    """What a package registers under the ``recipe_runner.connectors`` entry-point group."""

    name: str
    summary: str = ""
    triggers: Sequence[TriggerSpec] = ()
    actions: Sequence[ActionSpec] = ()
    connection_types: Sequence[ConnectionTypeSpec] = ()


class Registry:
    """Triggers, actions and connection types by key, and which connector gave each."""

    def __init__(self) -> None:
        self.actions: dict[str, ActionSpec] = {}
        self.triggers: dict[str, TriggerSpec] = {}
        self.connection_types: dict[str, ConnectionTypeSpec] = {}
        self.origins: dict[str, str] = {}  # "<kind> <key>" -> the connector that gave it

    def add(self, spec: ActionSpec | TriggerSpec | ConnectionTypeSpec,
            origin: str = "") -> None:
        table: dict[str, Any] = (
            self.actions if isinstance(spec, ActionSpec)
            else self.connection_types if isinstance(spec, ConnectionTypeSpec)
            else self.triggers)
        if spec.key in table:
            first = self.origins.get(f"{spec.kind} {spec.key}")
            by = f" (first by {first})" if first else ""
            raise ValueError(f"{spec.kind} {spec.key!r} is registered twice{by}")
        table[spec.key] = spec
        self.origins[f"{spec.kind} {spec.key}"] = origin

    def add_connector(self, connector: Connector, origin: str | None = None) -> None:
        """Every spec of ``connector``; a clash with one already registered is a
        ``ValueError`` naming both."""
        for spec in (*connector.connection_types, *connector.triggers, *connector.actions):
            self.add(spec, origin or connector.name)

    def anonymous_type(self) -> ConnectionTypeSpec | None:
        """The connection type whose client steps without a connection get."""
        return next((t for t in self.connection_types.values() if t.anonymous), None)
