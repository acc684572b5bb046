"""What can go wrong in the state store, grouped by what the caller should do.

::

    StoreError                  base class; never raised itself
    ├── StaleEpoch              another replica owns the recipe now: stop polling it
    ├── TokenCacheConflict      someone saved the token cache first: reload, merge, retry
    └── ClaimLost               the job's claim expired and was taken: abandon the job
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the state store raises on purpose."""


class StaleEpoch(StoreError):
    """A cursor commit carried an epoch that is no longer the recipe's; nothing was written."""

    def __init__(self, recipe: str, expected_epoch: int) -> None:
        super().__init__(f"recipe {recipe!r}: epoch {expected_epoch} is stale; nothing written")
        self.recipe = recipe
        self.expected_epoch = expected_epoch


class TokenCacheConflict(StoreError):
    """The stored token cache is not at the version the caller read; nothing was written."""

    def __init__(self, connection: str, expected_version: int) -> None:
        super().__init__(
            f"connection {connection!r}: token cache is no longer at version {expected_version}"
        )
        self.connection = connection
        self.expected_version = expected_version


class ClaimLost(StoreError):
    """The worker no longer holds the job's claim (expired and reclaimed, or finished)."""

    def __init__(self, job_id: str, worker_id: str) -> None:
        super().__init__(f"job {job_id}: worker {worker_id!r} no longer holds its claim")
        self.job_id = job_id
        self.worker_id = worker_id
