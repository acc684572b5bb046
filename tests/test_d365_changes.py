"""Change-tracking triggers against the emulator: created, updated, deleted, resumed."""

from __future__ import annotations

from connectors.dynamics365.changes import CHANGES_SPEC, DELETED_RECORD_SPEC
from emulator import RunningEmulator
from tests.d365_support import d365_client, insert_rows, poll_once

PARAMS = {"table": "accounts", "select": ["name"], "page_size": 2}


async def _accounts(emulator: RunningEmulator, count: int) -> list[str]:
    async with emulator.client_session() as http:
        return await insert_rows(http, emulator, "account",
                                 [{"name": f"A{i}"} for i in range(count)])


async def test_changes_since_now_reports_later_updates_and_deletes_once(
        emulator: RunningEmulator) -> None:
    ids = await _accounts(emulator, 5)
    async with d365_client(emulator) as client:
        start, cursor = await poll_once(CHANGES_SPEC, client, PARAMS, None)
        await client.request("PATCH", f"accounts({ids[1]})", json_body={"name": "changed"})
        await client.request("DELETE", f"accounts({ids[2]})")
        changes, cursor = await poll_once(CHANGES_SPEC, client, PARAMS, cursor)
        quiet, _ = await poll_once(CHANGES_SPEC, client, PARAMS, cursor)
    assert start == [] and quiet == []
    assert [(e.kind, e.key.split(":")[0]) for e in changes] == [("upsert", ids[1]),
                                                                ("deleted", ids[2])]


async def test_changes_from_the_beginning_resume_mid_read_without_repeats(
        emulator: RunningEmulator) -> None:
    ids = await _accounts(emulator, 7)
    params = {**PARAMS, "since": "beginning"}
    async with d365_client(emulator) as client:
        part, cursor = await poll_once(CHANGES_SPEC, client, params, None, stop_after_pages=2)
        rest, cursor = await poll_once(CHANGES_SPEC, client, params, cursor)
    keys = [e.key for e in part + rest]
    assert len(part) == 4 and len(keys) == len(set(keys)) == 7
    assert {k.split(":")[0] for k in keys} == set(ids)


async def test_deleted_record_reports_only_deletions(emulator: RunningEmulator) -> None:
    ids = await _accounts(emulator, 3)
    async with d365_client(emulator) as client:
        _, cursor = await poll_once(DELETED_RECORD_SPEC, client, PARAMS, None)
        await client.request("PATCH", f"accounts({ids[0]})", json_body={"name": "x"})
        await client.request("DELETE", f"accounts({ids[1]})")
        events, _ = await poll_once(DELETED_RECORD_SPEC, client, PARAMS, cursor)
    assert [(e.kind, e.key) for e in events] == [("deleted", f"{ids[1]}:deleted")]
