"""Benchmark: the crash-safety test at soak length. Not a test.

``tests/test_crash_safety.py`` with more records and kills: a flow of contacts through a
recipe with two side effects — ``dynamics365.create_record`` of a task per contact, then an
``http.request`` POST to the emulator's webhook sink — ``--kills`` SIGKILLs of
``recipe-runner run`` at random moments (0.8–2 s after each start), then ``--burst`` runs to
finish. Counts the **effects**: contacts lost, duplicate rows in Dynamics, duplicate POSTs
without a shared Idempotency-Key (all three must be 0), jobs not succeeded exactly once
(must be 0), and POSTs sent again with their key (steps in flight at a kill, bounded by
kills × concurrency). Exits 1 when a guarantee is broken. The emulator runs in its own
process (``bench/_emulator.py``), the daemon's state is SQLite in a temporary folder.

    .venv/bin/python bench/crash_soak.py [--records 20000] [--kills 100]
        [--concurrency 8] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

from _emulator import emulator_process

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.crash_scenario import CrashOutcome, finish, kill_at_random, outcome, prepare_flow


async def soak(args: argparse.Namespace) -> CrashOutcome:
    # Each sink must keep every post (one per record, plus repeats) to count losses.
    async with emulator_process(webhook_keep_last=2 * args.records) as emulator:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            daemon_args, ids = await prepare_flow(emulator, folder, args.records,
                                                  args.concurrency)
            started = time.monotonic()
            await kill_at_random(daemon_args, args.kills, random.Random(args.seed))
            killed_s = time.monotonic() - started
            await finish(emulator, daemon_args, args.records, timeout_s=args.timeout_s)
            wall_s = time.monotonic() - started
            seen = await outcome(emulator, folder, ids)
    print(f"wall time: {wall_s:.1f}s ({killed_s:.1f}s killing, "
          f"{wall_s - killed_s:.1f}s finishing with --burst)")
    return seen


def report(seen: CrashOutcome, args: argparse.Namespace) -> bool:
    """Print the guarantees; whether all held."""
    bound = args.kills * args.concurrency
    print(f"lost = {seen.lost} (must be 0)")
    print(f"duplicate rows in Dynamics = {seen.duplicate_rows} (must be 0)")
    print(f"duplicate POSTs without a shared Idempotency-Key = "
          f"{seen.duplicate_posts_unkeyed} (must be 0)")
    print(f"jobs not succeeded exactly once = {seen.jobs_off} (must be 0)")
    print(f"POSTs sent again with their key: {seen.repeated_posts} (bound: {bound} = "
          f"{args.kills} kills × concurrency {args.concurrency})")
    return (seen.lost == seen.duplicate_rows == seen.duplicate_posts_unkeyed == seen.jobs_off
            == 0 and seen.repeated_posts <= bound)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, help="for the kill moments (default: random)")
    parser.add_argument("--timeout-s", type=float, default=600,
                        help="for each --burst run")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.randrange(2**32)
    print(f"{args.records:,} records, {args.kills} kills, concurrency {args.concurrency}, "
          f"seed {args.seed}", flush=True)
    seen = asyncio.run(soak(args))
    if report(seen, args):
        return 0
    print("a crash-safety guarantee is broken", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
