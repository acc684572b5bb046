"""The store's checkpointer copies the write-ahead log into the database file beside the
writers (no commit of the store does it), so the file holds the data and the log is
reused instead of growing."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from runner.store import NewEvent, Store
from runner.store.checkpointer import WalCheckpointer
from tests.daemon_support import until


async def test_ingested_pages_reach_the_database_file_without_any_commit_checkpointing(
    tmp_path: Path,
) -> None:
    database = tmp_path / "state.db"
    payload = {"text": "x" * 1000}
    async with await Store.open(f"sqlite:///{database}") as store:
        for page in range(40):  # about 40 MB of jobs, past the 16 MB threshold
            events = [NewEvent(f"p{page}-{i}", payload) for i in range(1000)]
            await store.commit_poll("r", events, {"page": page}, 0)
        await until(lambda: database.stat().st_size >= 30_000_000, [], timeout_s=10)
        # (copied while the store is open: no commit of the store checkpoints)
        await store.record_poll_outcome("r", None)  # a write through the other connections


def test_a_log_past_the_threshold_is_copied_into_the_file(tmp_path: Path) -> None:
    database = tmp_path / "plain.db"
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (x TEXT)")
    writer.executemany("INSERT INTO t VALUES (?)", [("y" * 1000,)] * 3000)
    checkpointer = WalCheckpointer(database, threshold_bytes=1_000_000)
    try:
        checkpointer.nudge()
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checkpointer.checkpoints >= 1
        assert database.stat().st_size > 3_000_000  # the rows left the log for the file
    finally:
        checkpointer.close()
        writer.close()
