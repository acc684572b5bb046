"""The durable state store: cursors and their jobs (an outbox), job steps for resume,
token caches and operator state, on SQLite (one process) or PostgreSQL (replicas).

Map: ``store.py`` the ``Store`` facade · ``engine.py`` URLs and engines ·
``schema.py`` tables · ``migrations.py`` versioned upgrades · ``outbox.py`` commit_poll ·
``batches.py`` batch members and their jobs · ``page_commits.py`` a poll's pages queued
back to back · ``transactions.py`` the writer
lock and whole transactions in the SQLite writer thread · ``checkpointer.py`` WAL
checkpoints beside the writers · ``cursors.py`` cursors and epochs · ``jobs.py``
claim/finish/retry · ``steps.py`` step results · ``history.py`` operator queries and
pruning · ``tokens.py`` token caches and connection states · ``recipes.py`` recipe
states · ``records.py`` values · ``errors.py`` exceptions.
"""

from __future__ import annotations

from runner.store.batches import Batching
from runner.store.engine import create_store_engine, normalize_url
from runner.store.errors import ClaimLost, StaleEpoch, StoreError, TokenCacheConflict
from runner.store.migrations import LATEST_VERSION, applied_versions, migrate
from runner.store.outbox import job_id_for
from runner.store.records import (
    CommitResult,
    ConnectionState,
    ConnectionStatus,
    Job,
    JobDetail,
    JobOutcome,
    JobStatus,
    NewEvent,
    RecipeState,
    StepRecord,
    StepResult,
    StepStatus,
    TokenCache,
)
from runner.store.store import Store

__all__ = [
    "LATEST_VERSION",
    "Batching",
    "ClaimLost",
    "CommitResult",
    "ConnectionState",
    "ConnectionStatus",
    "Job",
    "JobDetail",
    "JobOutcome",
    "JobStatus",
    "NewEvent",
    "RecipeState",
    "StaleEpoch",
    "StepRecord",
    "StepResult",
    "StepStatus",
    "Store",
    "StoreError",
    "TokenCache",
    "TokenCacheConflict",
    "applied_versions",
    "create_store_engine",
    "job_id_for",
    "migrate",
    "normalize_url",
]
