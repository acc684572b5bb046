"""The engine: pollers turn trigger pages into durable jobs; workers run their steps.

* ``poller``: one recipe's trigger → jobs + cursor in one transaction (outbox).
* ``worker``: claims a recipe's jobs up to its concurrency and runs them.
* ``job``: runs one job's step tree, recording each step; resumes after a crash.
* ``writer``: group commit of step records and job outcomes.
* ``engine``: wires pollers and workers over one store; burst mode for tests.
* ``backfill``: re-reads a past range of a trigger into jobs; the live cursor stays put.
"""

from __future__ import annotations

from runner.engine.engine import BurstSummary, Engine
from runner.engine.worker import WorkerSettings

__all__ = ["BurstSummary", "Engine", "WorkerSettings"]
