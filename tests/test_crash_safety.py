"""kill -9 at random moments during a 5,000-record flow whose steps create a Dataverse task
and POST to a webhook: after restarts every record has exactly one task and its POST, every
job succeeded once, and a POST sent again (a step in flight at a kill) carries the same
Idempotency-Key as the first."""

from __future__ import annotations

import random
from pathlib import Path

from emulator import RunningEmulator
from runner.store import JobStatus
from tests.crash_scenario import finish, kill_at_random, outcome, prepare_flow

RECORDS, KILLS, CONCURRENCY = 5000, 20, 8


async def test_random_kills_lose_nothing_and_double_no_effect(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    args, ids = await prepare_flow(emulator, tmp_path, RECORDS, CONCURRENCY)
    await kill_at_random(args, KILLS, random.Random(20261126))
    await finish(emulator, args, RECORDS)

    seen = await outcome(emulator, tmp_path, ids)
    print(f"{KILLS} kills: {seen.repeated_posts} POST(s) sent again with their key")
    assert seen.lost == 0
    assert seen.duplicate_rows == 0  # no contact got a second task
    assert seen.duplicate_posts_unkeyed == 0  # every repeat is recognisable by its key
    assert seen.repeated_posts <= KILLS * CONCURRENCY  # only steps in flight at a kill
    nonzero = {status: n for status, n in seen.jobs.items() if n}
    assert nonzero == {JobStatus.SUCCEEDED: RECORDS}  # one job per record, each succeeded
