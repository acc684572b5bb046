"""The recipe state behind "one truth" (failed polls in a row, a kept version's problem) and
the backfill requests an operator hands to the daemon, on SQLite and PostgreSQL."""

from __future__ import annotations

from runner.store import Store
from tests.store_support import StoreTarget

pytest_plugins = ["tests.store_support"]


async def test_failed_polls_count_in_a_row_and_reset_on_success(target: StoreTarget) -> None:
    store: Store = await target.open()
    async with store:
        counts = []
        for error in ("404 contactz", "404 contactz", "404 contactz", None, "reset"):
            await store.record_poll_outcome("r", error)
            state = await store.get_recipe_state("r")
            counts.append((state.failed_polls, state.failing, state.last_error))
    assert counts == [(1, False, "404 contactz"), (2, False, "404 contactz"),
                      (3, True, "404 contactz"), (0, False, None), (1, False, "reset")]


async def test_file_problem_is_kept_until_cleared(target: StoreTarget) -> None:
    async with await target.open() as store:
        await store.set_file_problem("r", "r.yaml:3:5: actions[0].type: unknown")
        kept = (await store.get_recipe_state("r")).file_problem
        await store.set_file_problem("r", None)
        cleared = (await store.get_recipe_state("r")).file_problem
    assert (kept, cleared) == ("r.yaml:3:5: actions[0].type: unknown", None)


async def test_a_backfill_request_is_taken_once_and_its_result_read(
    target: StoreTarget,
) -> None:
    first, second = {"id": "a", "since": "2026-01-01"}, {"id": "b", "since": "2026-02-01"}
    async with await target.open() as store:
        queued = await store.request_backfill("r", first)
        refused = await store.request_backfill("r", second)  # one at a time per recipe
        pending = await store.pending_backfills()
        taken, again = await store.take_backfill("r", first), await store.take_backfill("r", first)
        await store.finish_backfill("r", {"id": "a", "ok": True, "summary": {"events": 2}})
        result = await store.backfill_result("r")
        after = await store.pending_backfills()
    assert (queued, refused, taken, again) == (True, False, True, False)
    assert pending == {"r": first} and after == {}
    assert result == {"id": "a", "ok": True, "summary": {"events": 2}}
