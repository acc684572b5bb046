"""Table feeds: recipes that watch the same table through the same connection and trigger
share one poll of it, and each gets exactly the events its own poll would have given.

A :class:`Feed` groups the pollers of its members. One **tick** (:meth:`Feed.poll_once`):

1. Members that stopped being served — disabled by the operator, paused (their connection
   needs a person), backed up past ``max_pending`` — leave: each goes on from the feed's
   cursor as it stands, on its own (``runner/store/feeds.py``).
2. The feed polls the table once, with every member's columns and no filter, and commits
   each page's cursor together with each member's jobs: the events its own ``filter``
   accepts, stamped at or after its ``since`` floor, with its own columns
   (:class:`~connectors.base.FeedSpec`), so a crash loses or repeats nothing.
3. Members not served yet — new, re-enabled, or reading a past range from their ``since`` —
   poll on their own, as every recipe did before feeds, until they have read as far as the
   feed; then they join it. An event both ways makes one job: job ids come from event
   identities, which a recipe's own poll and the feed give alike.

Cost therefore grows with tables, not recipes: an idle feed is one query per interval.

**Push** (``mode: push`` or ``hybrid``, see ``docs/realtime.md``): the feed registers a
webhook with the service (:meth:`Feed.register_push`); each delivery (:meth:`Feed.deliver`)
becomes every active member's jobs at once, committed before the listener answers. Event
keys are the poll's, so in hybrid mode the slow poll that follows finds those jobs stored
and makes no second one, while bringing whatever a delivery lost.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.base import (
    AuthError,
    ConnectorError,
    Event,
    FeedSpec,
    Params,
    PushFeed,
    RetryableError,
    StepContext,
    TriggerSpec,
)
from runner.engine.poller import PollSummary, RecipePoller, prefetched
from runner.ops.metrics import METRICS
from runner.recipes import Recipe
from runner.store import StaleEpoch, Store
from runner.store.feeds import FeedState, MemberCursor
from runner.store.outbox import PreparedEvents

View = Callable[[Event], Event | None]


def feed_id(recipe: Recipe, spec: TriggerSpec) -> str | None:
    """The feed that serves ``recipe``, or None when it polls on its own (the trigger has no
    feeds, or its params need their own query: ``ValueError`` says why)."""
    if spec.feed is None or not recipe.trigger.shared:
        return None
    group = spec.feed.group(spec.params.model_validate(recipe.trigger.params))
    return f"feed:{spec.key}:{recipe.trigger.connection}:{group}"


@dataclass
class Member:
    """One recipe of a feed: its poller (for polling on its own), its view of feed events."""

    poller: RecipePoller
    view: View
    summary: PollSummary = field(default_factory=PollSummary)

    @property
    def name(self) -> str:
        return self.poller.recipe.name


class Feed:
    def __init__(self, feed_id: str, spec: TriggerSpec, store: Store, connection: Any,
                 log: Any) -> None:
        assert spec.feed is not None
        self.id = feed_id
        self.spec = spec
        self.feed: FeedSpec = spec.feed
        self.store = store
        self.connection = connection
        self.log = log.bind(feed=feed_id)
        self.members: dict[str, Member] = {}
        self.token = hashlib.sha256(feed_id.encode()).hexdigest()[:24]  # its webhook path
        self.push_key: str | None = None  # the WebhookKey the service sends, once registered
        self._push_target: Any = None

    def add(self, poller: RecipePoller) -> None:
        self.members[poller.recipe.name] = Member(poller, self.feed.view(poller.params))

    def remove(self, name: str) -> None:
        self.members.pop(name, None)

    @property
    def mode(self) -> str:
        """``poll``, ``push`` or ``hybrid`` (the members share it: it is in the feed's id)."""
        if not isinstance(self.feed, PushFeed) or not self.members:
            return "poll"
        return self.feed.mode(next(iter(self.members.values())).poller.params)

    @property
    def registration_name(self) -> str:
        return f"recipe-runner {self.id}"

    async def register_push(self, url: str, key: str) -> None:
        """Register (idempotently) the webhook that posts this feed's changes to ``url``."""
        assert isinstance(self.feed, PushFeed)
        self._push_target = await self.feed.register_push(
            self.connection, [m.poller.params for m in self.members.values()],
            self.registration_name, url, key)
        self.push_key = key
        self.log.info("feed.push_registered", url=url, members=len(self.members))

    async def deliver(self, body: Mapping[str, Any]) -> int:
        """One pushed delivery: every active member's jobs, stored before this returns
        (the listener answers only then). The number of new jobs."""
        assert isinstance(self.feed, PushFeed) and self._push_target is not None
        events = self.feed.pushed(body, self._push_target)
        if not events:
            return 0
        enabled = await self.store.enabled_overrides(list(self.members))
        deliveries = {name: m.poller.prepared([v for e in events if (v := m.view(e))])
                      for name, m in self.members.items()
                      if not m.poller.paused_reason and enabled.get(name) is not False}
        results = await self.store.store_pushed(deliveries)
        new = 0
        for name, result in results.items():
            poller = self.members[name].poller
            new += result.new_jobs + result.waiting
            if result.new_jobs:
                poller.on_new_jobs()
            if result.waiting:  # batch members: the batches they fill become jobs now
                await poller.form_batches(PollSummary())
        return new

    @property
    def poll_interval_s(self) -> float:
        return min(m.poller.recipe.trigger.poll_interval_s for m in self.members.values())

    async def poll_once(self, expected_epoch: int | None = None) -> dict[str, PollSummary]:
        """One tick (see the module docstring); each member's summary of it.
        ``expected_epoch``: write under this epoch (the feed's lease), not the one read."""
        for member in self.members.values():
            member.summary = PollSummary()
        state, cursors = await self.store.load_feed(self.id, list(self.members))
        if expected_epoch is not None:
            state = FeedState(state.cursor, state.members, expected_epoch)
        active = await self._active()
        leaving = {name: cursors.get(name, MemberCursor(None)) for name in state.members
                   if name not in active}
        if leaving:
            state = await self.store.leave_feed(self.id, state, leaving)
        served = [self.members[name] for name in state.members]
        started = time.monotonic()
        if served:
            state = await self._poll_feed(state, served, cursors)
        await self._catch_up(state, [m for n, m in self.members.items()
                                     if n in active and n not in state.members], cursors)
        await self._report(served, started)
        return {name: member.summary for name, member in self.members.items()}

    async def _active(self) -> set[str]:
        """Members to serve now: enabled, not paused, not backed up."""
        names = list(self.members)
        enabled = await self.store.enabled_overrides(names)
        pending = await self.store.pending_counts(names)
        active = set()
        for name, member in self.members.items():
            poller = member.poller
            if poller.paused_reason:
                member.summary.skipped = poller.paused_reason
            elif enabled.get(name) is False:
                member.summary.skipped = "disabled by operator"
            elif pending.get(name, 0) >= poller.recipe.max_pending:
                member.summary.skipped = f"back-pressure: {pending[name]} pending jobs"
            else:
                active.add(name)
        return active

    async def _poll_feed(self, state: FeedState, served: list[Member],
                         cursors: dict[str, MemberCursor]) -> FeedState:
        params: Params = self.feed.feed_params([m.poller.params for m in served])
        ctx = StepContext(recipe=self.id, connection=self.connection, log=self.log)
        floors = {m.name: cursors[m.name].floor if m.name in cursors else None for m in served}
        try:
            async for page in prefetched(self.spec.poll(params, state.cursor, ctx)):
                deliveries = {m.name: self._delivery(m, page.events, floors[m.name])
                              for m in served}
                state = FeedState(page.cursor, state.members, state.epoch)
                results = await self.store.commit_feed_page(self.id, state, deliveries)
                for member in served:
                    member.poller.count(member.summary, results[member.name])
        except (ConnectorError, StaleEpoch) as exc:
            self._failed(served, exc)
        for member in served:
            await member.poller.form_batches(member.summary)
        return state

    def _delivery(self, member: Member, events: list[Event], floor: str | None
                  ) -> PreparedEvents:
        stamp, view = self.feed.stamp, member.view
        mine = [seen for event in events
                if (floor is None or stamp(event) >= floor) and (seen := view(event))]
        return member.poller.prepared(mine)

    def _failed(self, served: list[Member], exc: Exception) -> None:
        error = _describe(exc)
        for member in served:
            member.summary.error = error

    async def _catch_up(self, state: FeedState, solo: list[Member],
                        cursors: dict[str, MemberCursor]) -> None:
        """Members not served: new ones that start from now join at once (one write for
        all); the others poll on their own, and join once they have read as far as the
        feed."""
        fresh = [m for m in solo if m.name not in cursors and state.cursor is not None
                 and self.feed.starts_now(m.poller.params)]
        if fresh:
            assert state.cursor is not None
            floor = self.feed.position(state.cursor)
            state = await self._join(state, {m.name: (MemberCursor(None), floor)
                                             for m in fresh})
        started_now = {m.name for m in fresh}
        for member in solo:
            if member.name in started_now:
                continue
            member.summary = await member.poller.poll_once()
            if member.summary.error or member.summary.skipped:
                continue
            cursor, epoch = await self.store.load_cursor(member.name)
            if cursor is not None and self._caught_up(state, cursor):
                if state.cursor is None:  # the first member: the feed starts where it stands
                    state = FeedState(dict(cursor), state.members, state.epoch)
                state = await self._join(state, {member.name: (
                    MemberCursor(cursor, epoch), self.feed.floor(cursor))})

    def _caught_up(self, state: FeedState, cursor: dict[str, Any]) -> bool:
        """Its own poll has read as far as the feed (or there is no feed position yet)."""
        mine = self.feed.position(cursor)
        feeds = self.feed.position(state.cursor) if state.cursor is not None else None
        return mine is not None and (feeds is None or mine >= feeds)

    async def _join(self, state: FeedState,
                    joining: dict[str, tuple[MemberCursor, str | None]]) -> FeedState:
        state = await self.store.join_feed(self.id, state, joining)
        self.log.info("feed.joined", recipes=sorted(joining), members=len(state.members))
        return state

    async def _report(self, served: list[Member], started: float) -> None:
        if not served:
            return
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        error = served[0].summary.error
        await self.store.record_poll_outcomes([m.name for m in served], error)
        for member in served:
            member.poller.last_poll_at = time.time()
            METRICS.observe_poll(member.name, member.summary)
            if not error:  # a failure is the feed's: one line below, not one per member
                member.poller.report_events(member.summary, duration_ms)
        if error:
            self.log.warning("feed.failed", error=error, members=len(served),
                             duration_ms=duration_ms)


def _describe(exc: Exception) -> str:
    if isinstance(exc, StaleEpoch):
        return "another replica owns this feed now"
    if isinstance(exc, AuthError):
        return f"connection needs attention: {exc.message}"
    if isinstance(exc, RetryableError):
        return f"temporary failure, next poll retries: {exc.message}"
    assert isinstance(exc, ConnectorError)
    return exc.message


def polls_alone(recipe: Recipe, spec: TriggerSpec) -> str | None:
    """Why ``recipe`` cannot share a feed (None: it can, or its trigger has none)."""
    try:
        feed_id(recipe, spec)
    except ValueError as exc:
        return str(exc)
    return None
