"""The emulator's SQLite database: one connection, used from the event loop.

SQLite calls are synchronous and short (indexed), so handlers call them directly; the
emulator is a test double, and keeping one connection makes transactions simple.
``transaction()`` nests through savepoints, which is how a ``$batch`` change set is atomic.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count


class Store:
    def __init__(self, path: str = ":memory:") -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        journal = "WAL" if path != ":memory:" else "MEMORY"
        self.db.execute(f"PRAGMA journal_mode={journal}")
        self.db.execute("PRAGMA synchronous=OFF")
        self._savepoints = count(1)
        self._depth = 0

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes inside commit together or not at all; nests via savepoints."""
        name = f"sp{next(self._savepoints)}"
        self.db.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield self.db
        except BaseException:
            self.db.execute(f"ROLLBACK TO {name}")
            self.db.execute(f"RELEASE {name}")
            raise
        else:
            self.db.execute(f"RELEASE {name}")
        finally:
            self._depth -= 1

    def close(self) -> None:
        self.db.close()
