"""Copying SQLite's write-ahead log into the database file beside the writers, not in them.

With automatic checkpoints, every so many pages the commit that crosses the threshold
also copies the whole log into the database file and syncs it: on a 100,000-row ingest
that was a quarter of the ingest writer's time, and the writer is what paces ingest. So
no connection of the store checkpoints on commit (``engine.py``); this thread does, on a
connection of its own, once the log has grown past ``threshold_bytes`` (looked at after
each ingest commit and every second). A passive checkpoint never blocks writers or
readers: it copies what no reader still needs. Once it has copied everything, the next
write starts the log over from its beginning, so between bursts the file stays near the
threshold; during a long burst it grows until the writer pauses.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import structlog

from runner.store.engine import SQLITE_BUSY_TIMEOUT_MS

log = structlog.get_logger("recipe-runner")

DEFAULT_THRESHOLD_BYTES = 16 * 1024 * 1024
CHECK_EVERY_S = 1.0  # also catches the log growth of writes that do not nudge


class WalCheckpointer:
    """``nudge()`` after a commit; ``close()`` stops the thread (it checkpoints once more)."""

    def __init__(self, database: Path, threshold_bytes: int = DEFAULT_THRESHOLD_BYTES) -> None:
        self._database = database
        self._wal = database.with_name(database.name + "-wal")
        self._threshold = threshold_bytes
        self._wake = threading.Event()
        self._closing = False
        self.checkpoints = 0
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer",
                                        daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._thread.join()

    def _due(self) -> bool:
        try:
            return self._wal.stat().st_size > self._threshold
        except FileNotFoundError:
            return False

    def _run(self) -> None:
        conn = sqlite3.connect(self._database, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            while not self._closing:
                self._wake.wait(timeout=CHECK_EVERY_S)
                self._wake.clear()
                if self._closing or self._due():
                    self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error as exc:  # e.g. locked by a checkpoint of another process
            log.warning("store.checkpoint_failed", error=str(exc))
