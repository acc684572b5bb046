"""The event pipeline: from row events to webhook deliveries.

Storage reports each create, update and delete of a watched (message, table); for every
enabled step that fires, the pipeline makes a delivery. During a Web API request the
deliveries wait in :data:`~emulator.dataverse.events.PENDING`: synchronous ones are sent
before the request answers, inside its transaction (a failure rolls the operation back and
answers Dataverse's error); asynchronous ones become system jobs (``asyncoperation``, type
System Event, ``owningextensionid`` the step) once the request committed, and are sent in
the background, retried after ``retry_delays_s`` when they fail, then marked Succeeded
(deleted when the step says ``asyncautodelete``) or Failed with the reason. Writes outside a
request (the control plane, the demo generator, a bulk delete job) send at once, in the
background.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from emulator.dataverse import errors
from emulator.dataverse.events import PENDING, RowEvent
from emulator.dataverse.pipeline import context as ctx
from emulator.dataverse.pipeline.delivery import Outcome, Sender, Settings
from emulator.dataverse.pipeline.registrations import (
    ASYNC,
    WATCHED_TABLES,
    Registry,
    Step,
)
from emulator.dataverse.pipeline.rules import DeliveryLog, LogEntry, RuleBook
from emulator.dataverse.schema import Table

if TYPE_CHECKING:
    from emulator.dataverse.environment import Environment

SYSTEM_EVENT = 1
SYNC_FAILED = "0x80040265"
# One correlation id per Web API request, shared by the deliveries it causes.
CORRELATION: ContextVar[str | None] = ContextVar("dataverse_correlation", default=None)
HOLDING_LOCK: ContextVar[bool] = ContextVar("dataverse_holding_write_lock", default=False)


@dataclass
class Delivery:
    id: str
    step: Step
    event: RowEvent
    operation: ctx.Operation
    entry: LogEntry

    @property
    def synchronous(self) -> bool:
        return self.step.mode != ASYNC


class Pipeline:
    def __init__(self, env: Environment, settings: Settings,
                 base_url: Callable[[], str]) -> None:
        self.env = env
        self.base_url = base_url  # the environment's URL, once the server is bound
        self.registry = Registry(env)
        self.settings = settings
        self.sender = Sender(settings)
        self.rules = RuleBook()
        self.log = DeliveryLog()
        self.tasks: set[asyncio.Task[None]] = set()
        self._lock: asyncio.Lock | None = None
        self._sent = 0  # deliveries sent so far; a held (reordered) one waits for more
        self._sent_changed: asyncio.Condition | None = None
        self._slots: asyncio.Semaphore | None = None

    # -- Observer ------------------------------------------------------------------------

    def watches(self, message: str, table: Table) -> bool:
        if table.logical_name in WATCHED_TABLES:
            # A registration is changing: read the steps again once it is written. (These
            # tables fire no steps themselves, so nothing reloads the cache before that.)
            self.registry.invalidate()
            return False
        return self.registry.watches(message, table.logical_name)

    def observe(self, event: RowEvent) -> None:
        names = {a.name for a in event.table.attributes.values() if a.column in event.target}
        steps = [s for s in self.registry.steps()
                 if s.fires_for(event.message, event.table.logical_name, names)]
        if not steps:
            return
        # Each step runs as its own operation (an asynchronous one is its own system job);
        # they share the request's correlation id.
        deliveries = [self._delivery(step, event, self._operation()) for step in steps]
        pending = PENDING.get()
        if pending is not None:
            pending.extend(deliveries)
        else:
            self.enqueue(deliveries)

    def _operation(self) -> ctx.Operation:
        return ctx.Operation(
            str(uuid.uuid4()), CORRELATION.get() or str(uuid.uuid4()), None,
            self.env.storage.clock.time(), self.env.organization_id, "emulator",
            self.env.business_unit_id, self.env.system_user_id)

    def _delivery(self, step: Step, event: RowEvent, operation: ctx.Operation) -> Delivery:
        delivery_id = str(uuid.uuid4())
        url = urlsplit(step.endpoint.url)
        entry = LogEntry(self.log.new_id(), delivery_id, step.id, step.name,
                         step.endpoint.name, f"{url.scheme}://{url.netloc}{url.path}",
                         "async" if step.mode == ASYNC else "sync", event.message,
                         event.table.logical_name, event.record_id, operation.operation_id,
                         operation.correlation_id, self.env.storage.clock.now().isoformat())
        return Delivery(delivery_id, step, event, operation, entry)

    # -- requests ------------------------------------------------------------------------

    @asynccontextmanager
    async def request_scope(self) -> AsyncIterator[list[Delivery]]:
        """Around one Web API request: its deliveries wait here; the asynchronous ones go
        once it is done (the caller drops those of operations that failed)."""
        pending: list[Delivery] = []
        tokens = (PENDING.set(pending), CORRELATION.set(str(uuid.uuid4())))
        try:
            yield pending
        finally:
            PENDING.reset(tokens[0])
            CORRELATION.reset(tokens[1])
        self.enqueue([d for d in pending if not d.synchronous])

    def needs_isolation(self, method: str) -> bool:
        """A write while synchronous steps exist runs alone, inside a transaction."""
        return method != "GET" and self.registry.has_sync() and not HOLDING_LOCK.get()

    @asynccontextmanager
    async def isolated(self) -> AsyncIterator[None]:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            token = HOLDING_LOCK.set(True)
            try:
                yield
            finally:
                HOLDING_LOCK.reset(token)

    async def deliver_sync(self, deliveries: list[Delivery]) -> None:
        """Send the synchronous deliveries of one operation, in rank order; a failure is
        Dataverse's error for the request (its transaction then rolls back)."""
        for delivery in [d for d in deliveries if d.synchronous]:
            outcome = await self._send(delivery)
            if not outcome.ok:
                raise errors.DataverseError(400, SYNC_FAILED, (
                    f"Endpoint unavailable: the webhook '{delivery.step.endpoint.name}' of "
                    f"step '{delivery.step.name}' failed ({delivery.entry.error}). Check that "
                    "the service endpoint is configured correctly and available."))

    # -- sending -------------------------------------------------------------------------

    def enqueue(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            self.log.add(delivery.entry)
            job_id = self._new_job(delivery) if not delivery.synchronous else None
            task = asyncio.get_running_loop().create_task(self._run(delivery, job_id))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _run(self, delivery: Delivery, job_id: str | None) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.max_concurrency)
        async with self._slots:
            await self._run_job(delivery, job_id)

    async def _run_job(self, delivery: Delivery, job_id: str | None) -> None:
        if self._sent_changed is None:
            self._sent_changed = asyncio.Condition()
        outcome = await self._send(delivery)
        retries = 0
        for delay in self.settings.retry_delays_s if job_id else ():
            if outcome.ok:
                break
            delivery.entry.status = "retrying"
            await asyncio.sleep(delay)
            retries += 1
            outcome = await self._send(delivery)
        if job_id is not None:
            self._finish_job(delivery, job_id, outcome, retries)

    async def _send(self, delivery: Delivery) -> Outcome:
        entry = delivery.entry
        if entry.attempts == 0 and entry.rule is None:
            rule = self.rules.take(entry.message, entry.entity, delivery.step.endpoint.url)
            if rule is not None:
                entry.rule = rule.id
                if rule.spec.action == "drop":
                    entry.status = "dropped"
                    return Outcome(200, None, 0)  # lost on the way: the sender never knows
                await self._before_send(rule.spec.action, rule.spec.delay_s, rule.spec.hold_s)
        headers, body = self._request(delivery)
        outcome = await self.sender.post(delivery.step.endpoint, headers, body)
        self._record(entry, outcome)
        await self._mark_sent()
        if outcome.ok and entry.rule is not None and self._rule_action(entry) == "duplicate":
            await self._duplicate(delivery, headers, body)
        return outcome

    def _rule_action(self, entry: LogEntry) -> str:
        return next((r.spec.action for r in self.rules.rules if r.id == entry.rule), "")

    async def _before_send(self, action: str, delay_s: float, hold_s: float) -> None:
        if action == "delay":
            await asyncio.sleep(delay_s)
        elif action == "reorder":
            await self._hold(hold_s)

    async def _hold(self, hold_s: float) -> None:
        """Wait until another delivery has been sent after this one was ready."""
        assert self._sent_changed is not None
        seen = self._sent
        async with self._sent_changed:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._sent_changed.wait_for(lambda: self._sent > seen),
                                       hold_s)

    async def _mark_sent(self) -> None:
        if self._sent_changed is None:
            self._sent_changed = asyncio.Condition()
        async with self._sent_changed:
            self._sent += 1
            self._sent_changed.notify_all()

    async def _duplicate(self, delivery: Delivery, headers: dict[str, str], body: bytes) -> None:
        copy = LogEntry(**{**delivery.entry.__dict__, "id": self.log.new_id(),
                           "duplicate": True, "attempts": 0})
        self.log.add(copy)
        self._record(copy, await self.sender.post(delivery.step.endpoint, headers, body))
        await self._mark_sent()

    def _record(self, entry: LogEntry, outcome: Outcome) -> None:
        entry.attempts += outcome.attempts
        entry.http_status = outcome.status
        entry.error = _masked(outcome.error, self._secrets())
        entry.status = "delivered" if outcome.ok else "failed"

    def _secrets(self) -> list[str]:
        return [v for s in self.registry.steps() for _, v in s.endpoint.auth_pairs() if v]

    def _request(self, delivery: Delivery) -> tuple[dict[str, str], bytes]:
        body, trimmed = ctx.serialize(ctx.context(delivery.step, delivery.event,
                                                  delivery.operation))
        headers = {
            "Content-Type": "application/json",
            "x-ms-dynamics-organization": urlsplit(self.base_url()).hostname or "",
            "x-ms-dynamics-entity-name": delivery.event.table.logical_name,
            "x-ms-dynamics-request-name": delivery.event.message,
            "x-ms-correlation-request-id": delivery.operation.correlation_id}
        if trimmed:
            headers["x-ms-dynamics-msg-size-exceeded"] = "true"
        return headers, body

    # -- system jobs ---------------------------------------------------------------------

    def _jobs(self) -> Table:
        table = self.env.catalog.by_logical_name("asyncoperation")
        assert table is not None
        return table

    def _new_job(self, delivery: Delivery) -> str:
        job_id = delivery.operation.operation_id  # the context's OperationId is the job's id
        self.env.storage.insert(self._jobs(), {
            "asyncoperationid": job_id, "name": delivery.step.name,
            "operationtype": SYSTEM_EVENT, "messagename": delivery.event.message,
            "primaryentitytype": delivery.event.table.logical_name,
            "correlationid": delivery.operation.correlation_id, "statuscode": 0,
            "_owningextensionid_value": delivery.step.id,
            "_owningextensionid_type": "sdkmessageprocessingstep"})
        return job_id

    def _finish_job(self, delivery: Delivery, job_id: str, outcome: Outcome,
                    retries: int) -> None:
        jobs, now = self._jobs(), self.env.storage.now_s()
        if self.env.storage.fetch(jobs, job_id) is None:
            return
        if outcome.ok and delivery.step.asyncautodelete:
            self.env.storage.delete(jobs, job_id)
            return
        values: dict[str, Any] = {"statuscode": 30 if outcome.ok else 31, "completedon": now,
                                  "retrycount": retries}
        if not outcome.ok:
            reason = delivery.entry.error or "no answer"
            values.update(message=f"The webhook call to '{delivery.entry.url}' failed: "
                                  f"{reason}.", friendlymessage="Endpoint unavailable",
                          errorcode=-2147220970)
        self.env.storage.update(jobs, job_id, values)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.sender.close()


def _masked(text: str | None, secrets: list[str]) -> str | None:
    if text is None:
        return None
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
