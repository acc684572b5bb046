"""kill -9 at random moments during a 5,000-record flow: after restarts every record is
processed, every job succeeds once, and only steps in flight at a kill ran again."""

from __future__ import annotations

import random
from pathlib import Path

from emulator import RunningEmulator
from runner.store import JobStatus
from tests.crash_scenario import finish, kill_at_random, outcome, prepare_flow

RECORDS, KILLS, CONCURRENCY = 5000, 20, 8


async def test_random_kills_lose_nothing_and_repeat_only_in_flight_steps(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    args, ids = await prepare_flow(emulator, tmp_path, RECORDS, CONCURRENCY)
    await kill_at_random(args, KILLS, random.Random(20261126))
    await finish(emulator, args, RECORDS)

    seen = await outcome(emulator, tmp_path, ids)
    assert set(seen.first) == ids and set(seen.second) == ids  # nothing lost
    print(f"{KILLS} kills: {seen.repeats} step(s) ran again")
    assert seen.repeats <= KILLS * CONCURRENCY  # only steps in flight at a kill ran again
    nonzero = {status: n for status, n in seen.jobs.items() if n}
    assert nonzero == {JobStatus.SUCCEEDED: RECORDS}  # one job per record, each succeeded
