"""Running one job: the recipe's steps, in order, each recorded as it finishes.

The contract, for a crash at any moment:

* A step's result is committed before any later step does anything with side effects, so
  a completed step never runs twice; at most the step that was running when the process
  died runs again (at-least-once for that one step).
* When a job resumes, steps already recorded as succeeded or skipped are not run again:
  their stored outputs are put back into ``steps.<id>`` for later templates.

Retries happen in place for short waits (backoff with jitter, ``Retry-After`` honoured);
a longer wait, or a connection that needs a person, releases the job to come back later.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import ValidationError

from connectors.base import (
    AuthError,
    ConnectorError,
    Registry,
    RetryableError,
    SkipEvent,
    StepContext,
)
from runner.engine.outcomes import Deferred, Skipped, StepFailed, StopJob
from runner.engine.writer import GroupWriter
from runner.ops.metrics import METRICS
from runner.recipes import ActionStep, ForEachStep, Recipe, Step, StopStep
from runner.redact import Redactor
from runner.store import Job, StepResult, StepStatus
from runner.templates import TemplateRenderError, render_params, render_value

MAX_OUTPUT_CHARS = 64_000
Rewrite = Callable[[str], str]


@dataclass
class JobServices:
    """What running steps needs from the daemon."""

    registry: Registry
    writer: GroupWriter
    connection: Callable[[str | None], Any]  # name (or None) -> the connector's client object
    log: Any
    redactor: Redactor = field(default_factory=Redactor)
    max_inline_wait_s: float = 30.0
    sleep: Callable[[float], Any] = asyncio.sleep


def _identity(path: str) -> str:
    return path


def _capped(value: Any) -> Any:
    text = json.dumps(value, default=str)
    if len(text) <= MAX_OUTPUT_CHARS:
        return json.loads(text)
    return {"_truncated": True, "size": len(text), "preview": text[:1000]}


class JobExecution:
    def __init__(
        self, recipe: Recipe, job: Job, completed: dict[str, Any], services: JobServices
    ) -> None:
        self.recipe = recipe
        self.job = job
        self.completed = completed
        self.services = services
        payload = job.payload if isinstance(job.payload, dict) else {"record": job.payload}
        self.context: dict[str, Any] = {
            "trigger": payload,
            "steps": {},
            "vars": recipe.variables,
            "variables": recipe.variables,
            "job": {"id": job.id, "attempt": job.attempts},
        }
        # Resolved once per job: each call on a lazy structlog proxy builds a new logger,
        # even for a level that is filtered out.
        self.log = services.log.bind()
        self.unflushed: list[StepResult] = []
        self.unflushed_effects = False  # an unflushed result is of a step with side effects
        self.steps_run = 0

    async def run(self) -> None:
        """Run every step; raises a ``JobEnded`` subclass when the job ends otherwise
        than by completing. Step results not yet flushed stay in ``unflushed``."""
        await self._run_steps(self.recipe.steps, _identity)

    async def flush(self) -> None:
        """Store the unflushed step results, fenced by the job's claim: if the claim expired
        and another worker has the job (this process was paused, say), ``ClaimLost`` is
        raised, nothing is stored and no later step of this execution runs."""
        results, self.unflushed = self.unflushed, []
        self.unflushed_effects = False
        held = (self.job.id, self.job.claimed_by) if self.job.claimed_by else None
        await self.services.writer.write(results, held=held)

    # -- the step tree -------------------------------------------------------------------

    async def _run_steps(self, steps: Sequence[Step], rewrite: Rewrite) -> None:
        for step in steps:
            await self._step(step, rewrite(step.path), rewrite)

    async def _step(self, step: Step, path: str, rewrite: Rewrite) -> None:
        if path in self.completed:
            self._remember(step, self.completed[path])
            return
        if step.condition is not None and not self._truthy(step.condition, step, "if"):
            self._record(path, StepStatus.SKIPPED, output=None)
            return
        if isinstance(step, StopStep):
            self._record(path, StepStatus.SUCCEEDED, output={"outcome": step.outcome})
            raise StopJob(step.outcome, self._render(step.message, step, "message") or "")
        if isinstance(step, ForEachStep):
            await self._for_each(step, path, rewrite)
        elif isinstance(step, ActionStep):
            await self._action(step, path, rewrite)

    async def _for_each(self, step: ForEachStep, path: str, rewrite: Rewrite) -> None:
        items = self._render(step.items, step, "items")
        if not isinstance(items, list | tuple):
            raise StepFailed(f"{step.where}: for_each items must be a list, got "
                             f"{type(items).__name__}")
        outer = self.context.get(step.item_name)
        for index, item in enumerate(items):
            self.context[step.item_name] = item
            prefix = f"{path}[{index}]"
            await self._run_steps(step.steps, _nested(step.path, prefix, rewrite))
        self.context[step.item_name] = outer
        self._record(path, StepStatus.SUCCEEDED, output={"count": len(items)})
        self._remember(step, {"count": len(items)})

    async def _action(self, step: ActionStep, path: str, rewrite: Rewrite) -> None:
        spec = self.services.registry.actions[step.type]
        try:  # each field with its declared encoding; long renders off the loop
            rendered = await render_params(step.params, self.context,
                                           f"{step.where}: {step.path}.params", spec.params)
        except TemplateRenderError as exc:
            raise StepFailed(self.services.redactor.text(str(exc))) from None
        try:
            params = spec.params.model_validate(rendered)
        except ValidationError as exc:
            raise StepFailed(f"{step.where}: {step.type} params after rendering: "
                             f"{_first_error(exc)}") from None
        # Earlier results are durable before this step's side effects; a side-effect-free
        # step (``log``) may run first unless an unflushed result came from one that had them.
        if spec.side_effects or self.unflushed_effects:
            await self.flush()
        self.steps_run += 1
        try:
            with structlog.contextvars.bound_contextvars(step=path), \
                    METRICS.timed_step(self.recipe.name, step.type):
                output = await self._attempts(step, path, spec.run, params)
        except ConnectorError as exc:
            self.unflushed_effects |= spec.side_effects
            await self._handle_failure(step, path, rendered, exc, rewrite)
            return
        self.unflushed_effects |= spec.side_effects
        output = _capped(output)
        self._record(path, StepStatus.SUCCEEDED, input=rendered, output=output)
        self._remember(step, output)

    async def _attempts(self, step: ActionStep, path: str, run: Any, params: Any) -> Any:
        # A job claimed before (crash, takeover, operator retry) may have run this step.
        ctx = StepContext(recipe=self.recipe.name, connection=self.services.connection(
            step.connection), log=self.log, job_id=self.job.id, step_path=path,
            may_repeat=self.job.attempts > 1)
        attempt = 1
        while True:
            try:
                return await run(params, ctx)
            except SkipEvent as exc:
                raise Skipped(exc.message) from None
            except AuthError as exc:
                raise Deferred(60.0, f"{step.path}: {exc.message}", step.connection) from None
            except RetryableError as exc:
                delay_s = _delay(step, attempt, exc.retry_after_s)
                if attempt >= step.retry.attempts:
                    if exc.status != 429 or exc.retry_after_s is None:
                        raise
                    # Throttled (429 with Retry-After): the step did not fail, the service
                    # asks us to wait, so the job waits off the worker (bounded by
                    # MAX_JOB_ATTEMPTS deferrals) instead of failing.
                    raise Deferred(delay_s, f"{step.path}: {exc.message}") from None
                if delay_s > self.services.max_inline_wait_s:
                    raise Deferred(delay_s, f"{step.path}: {exc.message}") from None
                self.log.info("job.step.retry", step=step.path, attempt=attempt,
                              delay_s=round(delay_s, 3), error=exc.message)
                METRICS.step_retries.labels(self.recipe.name, step.type).inc()
                await self.services.sleep(delay_s)
                ctx.may_repeat = ctx.may_repeat or exc.resent or exc.outcome_unknown
                attempt += 1
            except ConnectorError:
                raise
            except Exception as exc:  # a bug in a connector must not kill the worker
                raise ConnectorError(f"{exc.__class__.__name__}: {exc}") from exc

    async def _handle_failure(self, step: ActionStep, path: str, rendered: Any,
                              exc: ConnectorError, rewrite: Rewrite) -> None:
        message = self.services.redactor.text(f"{step.type} failed: {exc.message}")
        self._record(path, StepStatus.FAILED, input=rendered, error=message)
        if step.on_error == "continue":
            self._remember(step, {"error": message})
            return
        if step.on_error == "fail":
            raise StepFailed(f"{path}: {message}")
        self.context["error"] = {"step": path, "message": message, "type": step.type}
        await self._run_steps(step.on_error, rewrite)  # type: ignore[arg-type]

    # -- helpers -------------------------------------------------------------------------

    def _render(self, value: Any, step: Step, what: str) -> Any:
        try:
            return render_value(value, self.context, f"{step.where}: {step.path}.{what}")
        except TemplateRenderError as exc:
            raise StepFailed(self.services.redactor.text(str(exc))) from None

    def _truthy(self, condition: str, step: Step, what: str) -> bool:
        return bool(self._render(condition, step, what))

    def _remember(self, step: Step, output: Any) -> None:
        if step.id:
            self.context["steps"][step.id] = output

    def _record(self, path: str, status: StepStatus, *, input: Any = None,
                output: Any = None, error: str | None = None) -> None:
        redact = self.services.redactor.value
        self.unflushed.append(StepResult(self.job.id, path, status, redact(input),
                                         output, error))


def _nested(parent_raw: str, parent_actual: str, outer: Rewrite) -> Rewrite:
    """Paths of a for_each iteration: ``actions[1].actions[0]`` → ``actions[1][3].actions[0]``."""
    outer_parent = outer(parent_raw)

    def rewrite(path: str) -> str:
        assert path.startswith(parent_raw)
        return parent_actual + path[len(parent_raw):] if outer_parent else path

    return rewrite


def _delay(step: ActionStep, attempt: int, retry_after_s: float | None) -> float:
    backoff = step.retry.delay_for(attempt) * random.uniform(0.8, 1.2)
    return max(backoff, retry_after_s or 0.0)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]
