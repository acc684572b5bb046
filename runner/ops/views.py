"""What the status page shows, as plain rows built from the engine and the store.

Every free text that could echo a secret (errors, reasons, step input and output) goes
through the daemon's redactor here, so the templates only ever see safe values.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runner.engine.engine import RunningRecipe
from runner.ops.context import OpsContext
from runner.ops.health import NEEDS_A_PERSON
from runner.ops.queue import QueueStats, queue_stats
from runner.ops.recipe_health import poll_lag_s, recipe_health
from runner.store import Job, JobDetail, JobStatus, RecipeState, StepRecord

MAX_SHOWN_CHARS = 4000
RECENT_JOBS = 20


@dataclass(frozen=True)
class RecipeRow:
    name: str
    trigger: str
    state: str
    healthy: bool
    last_poll: str
    last_poll_iso: str
    poll_lag: str  # beyond the poll interval since the last good poll; "-": none expected
    poll_late: bool  # more than one interval late
    lag: str
    pending: int
    failed: int


@dataclass(frozen=True)
class ConnectionRow:
    name: str
    type: str
    auth: str
    state: str
    healthy: bool
    reason: str
    token_expiry: str
    last_refresh: str


@dataclass(frozen=True)
class StepRow:
    path: str
    status: str
    attempts: int
    error: str
    input: str
    output: str


@dataclass(frozen=True)
class JobRow:
    id: str
    recipe: str
    status: str
    attempts: int
    created: str
    created_iso: str
    error: str
    steps: tuple[StepRow, ...]


def iso(epoch_s: float | None) -> str:
    if epoch_s is None:
        return ""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(epoch_s: float | None, now_s: float) -> str:
    """``"12 s ago"``, ``"in 5 min"``; ``"never"`` for ``None``."""
    if epoch_s is None:
        return "never"
    delta_s = now_s - epoch_s
    text = duration(abs(delta_s))
    return f"{text} ago" if delta_s >= 0 else f"in {text}"


def duration(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def shown(value: Any, ops: OpsContext) -> str:
    """Redacted, pretty JSON, cut at ``MAX_SHOWN_CHARS``."""
    if value is None:
        return ""
    text = json.dumps(ops.redactor.value(value), indent=2, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "\n… (cut)"


async def recipe_rows(ops: OpsContext, now_s: float) -> list[RecipeRow]:
    stats = await queue_stats(ops.engine.store, now_s)
    rows = []
    states = await ops.engine.store.get_recipe_states(sorted(ops.engine.recipes))
    for name, state in states.items():
        queue = stats.get(name, QueueStats())
        running = ops.engine.recipes[name]
        status, healthy = recipe_state(running, state)
        late_s = poll_lag_s(running.recipe.trigger, state, now_s)
        rows.append(RecipeRow(
            name=name, trigger=ops.engine.recipes[name].recipe.trigger.type,
            state=ops.redactor.text(status), healthy=healthy,
            last_poll=ago(state.last_poll_at, now_s), last_poll_iso=iso(state.last_poll_at),
            poll_lag="-" if late_s is None else duration(late_s),
            poll_late=late_s is not None
            and late_s > running.recipe.trigger.poll_interval_s,
            lag=duration(queue.lag_s) if queue.pending else "-", pending=queue.pending,
            failed=queue.failed))
    return rows


def recipe_state(running: RunningRecipe, state: RecipeState) -> tuple[str, bool]:
    """What the status page says about a loaded recipe, and whether that is healthy; the
    words match ``recipes list`` and the daemon's log lines."""
    if state.enabled is False:
        return "disabled by operator", False
    if running.poller.paused_reason:
        return f"paused: {running.poller.paused_reason}", False
    health = recipe_health(state)
    return ("running", True) if health == "ok" else (health, False)


async def connection_rows(ops: OpsContext, now_s: float) -> list[ConnectionRow]:
    file = ops.engine.pool.connections
    if file is None:
        return []
    stored = {s.connection: s for s in await ops.engine.store.list_connection_states()}
    rows = []
    for name, conn in sorted(file.connections.items()):
        tokens = ops.tokens.tokens(name) if ops.tokens and name in ops.tokens.names else None
        status = tokens.status if tokens else None
        saved = stored.get(name)
        rows.append(ConnectionRow(
            name=name, type=conn.type, auth=str(getattr(conn, "auth", "") or ""),
            state=str(status or (saved.state if saved else "not used yet")),
            healthy=(status or (saved.state if saved else None)) not in NEEDS_A_PERSON,
            reason=ops.redactor.text(saved.reason or "") if saved else "",
            token_expiry=ago(tokens.expires_at, now_s) if tokens and tokens.expires_at else "-",
            last_refresh=await _last_refresh(ops, name, tokens, now_s)))
    return rows


async def _last_refresh(ops: OpsContext, name: str, tokens: Any, now_s: float) -> str:
    """When a token was last obtained: by this daemon, or as stored by any process
    (``connections login``/``test`` from a shell, another replica)."""
    if tokens is None:
        return "-"
    refreshed_at = tokens.last_refresh_at
    if refreshed_at is None:
        stored = await ops.engine.store.load_token_cache(name)
        refreshed_at = stored.updated_at if stored else None
    return ago(refreshed_at, now_s)


def step_row(step: StepRecord, ops: OpsContext) -> StepRow:
    return StepRow(path=step.path, status=step.status.value, attempts=step.attempts,
                   error=ops.redactor.text(step.error or ""), input=shown(step.input, ops),
                   output=shown(step.output, ops))


def job_row(job: Job, steps: tuple[StepRecord, ...], ops: OpsContext) -> JobRow:
    return JobRow(id=job.id, recipe=job.recipe, status=job.status.value,
                  attempts=job.attempts, created=ago(job.created_at, time.time()),
                  created_iso=iso(job.created_at), error=ops.redactor.text(job.error or ""),
                  steps=tuple(step_row(s, ops) for s in steps))


async def recent_jobs(ops: OpsContext, limit: int = RECENT_JOBS) -> list[JobRow]:
    rows = []
    for job in await ops.engine.store.list_jobs(limit=limit):
        detail = await ops.engine.store.get_job(job.id)
        rows.append(job_row(job, detail.steps if detail else (), ops))
    return rows


def job_page(detail: JobDetail, ops: OpsContext) -> dict[str, Any]:
    return {"job": job_row(detail.job, detail.steps, ops),
            "payload": shown(detail.job.payload, ops),
            "failed": detail.job.status is JobStatus.FAILED,
            "event_key": ops.redactor.text(detail.job.event_key),
            "finished": iso(detail.job.finished_at), "next_run": iso(detail.job.next_run_at)}
