"""Prometheus metrics of the daemon, in a dedicated ``CollectorRegistry``.

The engine records into ``METRICS`` with one cheap call per event (a label lookup and an
increment); nothing here touches the state store on the hot path. Values that need a query
(queue depth and lag of every recipe) are sampled when ``/metrics`` is scraped, and queue
depth also on every poll, which counts pending jobs anyway.

Every name starts with ``recipe_runner_``; labels are recipe, connection, action type and
outcome names, never record data, so the number of series stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import structlog
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from connectors.errors import RetryableError

# Counters would also export a ``*_created`` series (the time each label set appeared):
# noise for every dashboard and twice the series, so it is switched off process-wide.
disable_created_metrics()
log = structlog.get_logger("recipe-runner.connector")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STEP_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
STORE_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
# A request retried this many times is worth a warning line (each retry is a debug line).
MANY_RETRIES = 3


class PollResult(Protocol):
    """What a poll reports (``runner.engine.poller.PollSummary`` satisfies it)."""

    events: int
    new_jobs: int
    error: str | None


class Metrics:
    """Every metric the daemon exports, registered in ``registry`` (a fresh one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.polls = Counter("recipe_runner_polls", "Trigger polls, by outcome (ok, error).",
                             ["recipe", "outcome"], registry=r)
        self.records_seen = Counter("recipe_runner_records_seen",
                                    "Events a trigger returned (new and already known).",
                                    ["recipe"], registry=r)
        self.jobs_created = Counter("recipe_runner_jobs_created", "Jobs stored by polls.",
                                    ["recipe"], registry=r)
        self.jobs_finished = Counter(
            "recipe_runner_jobs_finished",
            "Job runs by outcome (succeeded, failed, cancelled, deferred).",
            ["recipe", "outcome"], registry=r)
        self.step_duration = Histogram("recipe_runner_step_duration_seconds",
                                       "Duration of action steps, retries included.",
                                       ["recipe", "action"], buckets=STEP_BUCKETS_S, registry=r)
        self.step_retries = Counter("recipe_runner_step_retries",
                                    "Step attempts retried by the engine after a temporary error.",
                                    ["recipe", "action"], registry=r)
        self.queue_depth = Gauge("recipe_runner_queue_depth", "Pending jobs.", ["recipe"],
                                 registry=r)
        self.queue_lag = Gauge("recipe_runner_queue_lag_seconds",
                               "Age of the oldest pending job (0: none pending).", ["recipe"],
                               registry=r)
        self.last_poll = Gauge("recipe_runner_last_poll_timestamp_seconds",
                               "When the recipe last polled (UNIX seconds).", ["recipe"],
                               registry=r)
        self.token_refreshes = Counter("recipe_runner_token_refreshes",
                                       "Access tokens obtained from the identity provider.",
                                       ["connection"], registry=r)
        self.token_cache_adoptions = Counter(
            "recipe_runner_token_cache_adoptions",
            "Token caches another process stored (connections login/test, another replica) "
            "that this daemon took over.", ["connection"], registry=r)
        self.token_failures = Counter(
            "recipe_runner_token_failures",
            "Failed token requests, by kind (invalid, never_signed_in, transient).",
            ["connection", "kind"], registry=r)
        self.throttled = Counter("recipe_runner_throttled_responses",
                                 "HTTP 429 answers from a service.", ["connection"], registry=r)
        self.retries = Counter("recipe_runner_request_retries",
                               "Requests a connector retried after a temporary error.",
                               ["connection"], registry=r)
        self.store_latency = Histogram("recipe_runner_state_store_seconds",
                                       "Duration of state store statements.", ["statement"],
                                       buckets=STORE_BUCKETS_S, registry=r)
        self.replica_info = Gauge("recipe_runner_replica_info",
                                  "This replica's id (RECIPE_RUNNER_WORKER_ID); always 1.",
                                  ["replica"], registry=r)
        self.live_replicas = Gauge("recipe_runner_live_replicas",
                                   "Replicas heartbeating on this state store.", registry=r)
        self.recipe_owned = Gauge("recipe_runner_recipe_owned",
                                  "1 if this replica holds the recipe's lease (polls it).",
                                  ["recipe"], registry=r)
        self.loop_lag = Gauge("recipe_runner_event_loop_lag_seconds",
                              "How late the event loop's last heartbeat ran.", registry=r)
        # For alert rules (deploy/prometheus/alerts.yml): a state, and the interval to
        # compare lag with.
        self.connection_ok = Gauge(
            "recipe_runner_connection_ok",
            "1 while the connection gets tokens; 0 while it needs a person (invalid, never "
            "signed in).", ["connection"], registry=r)
        self.poll_interval = Gauge("recipe_runner_poll_interval_seconds",
                                   "The recipe's poll interval.", ["recipe"], registry=r)
        self.poll_lag = Gauge(
            "recipe_runner_poll_lag_seconds",
            "Seconds since the recipe's last poll without an error, beyond its poll interval "
            "(0: on time; absent until it has polled well, and for recipes that do not poll).",
            ["recipe"], registry=r)

    def observe_poll(self, recipe: str, summary: PollResult) -> None:
        """Count one finished poll (skipped polls are not polls)."""
        self.polls.labels(recipe, "error" if summary.error else "ok").inc()
        self.records_seen.labels(recipe).inc(summary.events)
        self.jobs_created.labels(recipe).inc(summary.new_jobs)
        self.last_poll.labels(recipe).set(time.time())

    @contextmanager
    def timed_step(self, recipe: str, action: str) -> Iterator[None]:
        """Observe the duration of the block as one step of ``action``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.step_duration.labels(recipe, action).observe(time.perf_counter() - started)

    def connector_hooks(self, connection: str) -> ConnectorHooks:
        """Callbacks a connector's client calls on 429s and retries of ``connection``."""
        return ConnectorHooks(self, connection)

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


class ConnectorHooks:
    """Satisfies ``connectors.dynamics365.client.ClientHooks`` for one connection."""

    def __init__(self, metrics: Metrics, connection: str) -> None:
        self.connection = connection
        self._throttled = metrics.throttled.labels(connection)
        self._retries = metrics.retries.labels(connection)

    def throttled(self) -> None:
        self._throttled.inc()

    def retried(self, error: RetryableError, attempt: int, delay_s: float) -> None:
        """Count the retry; a debug line each time, a warning once a request needed many."""
        self._retries.inc()
        fields = {"connection": self.connection, "attempt": attempt,
                  "delay_s": round(delay_s, 3), "status": error.status, "error": error.message}
        if attempt == MANY_RETRIES:
            log.warning("request.retried_many", **fields)
        else:
            log.debug("request.retried", **fields)


def statement_kind(statement: Any) -> str:
    """``select`` / ``insert`` / ``update`` / ``delete`` / ``other``: a bounded label."""
    verb = str(statement).lstrip().split(None, 1)[0].lower() if str(statement).strip() else ""
    return verb if verb in ("select", "insert", "update", "delete") else "other"


METRICS = Metrics()
"""The daemon's metrics (one process, one daemon). Tests tell runs apart by recipe name."""
