"""State store latency: every statement timed through SQLAlchemy's cursor events, so the
store's own code needs no instrumentation."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from runner.ops.metrics import Metrics, statement_kind

_STARTED = "_recipe_runner_started_s"


def time_statements(engine: AsyncEngine, metrics: Metrics) -> Callable[[], None]:
    """Observe each statement's duration in ``metrics.store_latency``; returns a function
    that stops observing."""
    sync_engine = engine.sync_engine

    # The start time rides on the statement's execution context: a statement that fails
    # never reaches ``after`` and leaves nothing behind.
    def before(_conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any,
               _many: bool) -> None:
        if context is not None:
            setattr(context, _STARTED, time.perf_counter())

    def after(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any,
              _many: bool) -> None:
        started = getattr(context, _STARTED, None)
        if started is not None:
            elapsed_s = time.perf_counter() - started
            metrics.store_latency.labels(statement_kind(statement)).observe(elapsed_s)

    event.listen(sync_engine, "before_cursor_execute", before)
    event.listen(sync_engine, "after_cursor_execute", after)

    def stop() -> None:
        event.remove(sync_engine, "before_cursor_execute", before)
        event.remove(sync_engine, "after_cursor_execute", after)

    return stop
