"""Garbage-collector settings for a daemon that decodes pages of thousands of rows.

CPython collects its youngest generation after every 700 net container allocations. One
decoded page of 5,000 rows allocates some 20,000 containers that all live until the page
is committed, so the collector ran about 30 times per page and, as they survived, kept
rescanning them in the older generations: 40% of the poller's CPU on a 100,000-row
ingest (``bench/engine_throughput.py``). Nothing in the daemon relies on prompt cycle
collection, so collections are made rarer, and the objects of start-up (modules,
settings, recipes) are frozen out of every later collection.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000  # container allocations between young collections (default 700)


def tune_for_batches() -> None:
    """Call once the daemon has loaded, before it starts polling."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
