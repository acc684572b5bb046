"""The timestamp triggers against the emulator: each row version exactly once."""

from __future__ import annotations

import time
from typing import Any

from connectors.catalog import default_registry
from connectors.dynamics365.triggers import NEW_OR_UPDATED_RECORD_SPEC, NEW_RECORD_SPEC
from emulator import RunningEmulator
from tests.d365_support import d365_client, insert_rows, iso, poll_once

UPDATED = NEW_OR_UPDATED_RECORD_SPEC
BASE = {"table": "contacts", "since": "beginning", "select": ["lastname"]}


async def _insert(emulator: RunningEmulator, rows: list[dict[str, Any]]) -> list[str]:
    async with emulator.client_session() as http:
        return await insert_rows(http, emulator, "contact", rows)


def _keys(events: list[Any]) -> list[str]:
    return [e.key for e in events]


def test_triggers_are_registered() -> None:
    triggers = default_registry().triggers
    assert triggers["dynamics365.new_record"] is NEW_RECORD_SPEC
    assert triggers["dynamics365.new_or_updated_record"] is UPDATED
    assert {"dynamics365.changes", "dynamics365.deleted_record"} <= set(triggers)


async def test_rows_sharing_one_second_across_page_boundaries_are_delivered_once(
        emulator: RunningEmulator) -> None:
    second = iso(time.time() - 60)
    ids = await _insert(emulator, [{"lastname": f"L{i}", "modifiedon": second,
                                    "createdon": second} for i in range(23)])
    async with d365_client(emulator) as client:
        first, cursor = await poll_once(UPDATED, client, {**BASE, "page_size": 5}, None)
        again, _ = await poll_once(UPDATED, client, {**BASE, "page_size": 5}, cursor)
    assert sorted(e.record["contactid"] for e in first) == sorted(ids)
    assert len(set(_keys(first))) == 23 and again == []
    assert all(e.kind == "created" for e in first)


async def test_late_commit_with_older_modifiedon_is_delivered_on_the_next_poll(
        emulator: RunningEmulator) -> None:
    now = time.time()
    await _insert(emulator, [{"lastname": "early", "modifiedon": iso(now - 30)}])
    async with d365_client(emulator) as client:
        first, cursor = await poll_once(UPDATED, client, BASE, None)
        assert cursor["watermark"] >= iso(now - 3)[:19]
        late = await _insert(emulator, [{"lastname": "late", "modifiedon": iso(now - 200)}])
        second, cursor = await poll_once(UPDATED, client, BASE, cursor)
        third, _ = await poll_once(UPDATED, client, BASE, cursor)
    assert [e.record["lastname"] for e in first] == ["early"]
    assert [e.record["contactid"] for e in second] == late and third == []


async def test_row_updated_while_the_poll_pages_is_delivered_in_its_new_version(
        emulator: RunningEmulator) -> None:
    old = time.time() - 100
    ids = await _insert(emulator, [{"lastname": f"L{i}", "modifiedon": iso(old + i)}
                                   for i in range(10)])
    delivered: list[str] = []
    async with d365_client(emulator) as client:
        params = UPDATED.params.model_validate({**BASE, "page_size": 3})
        cursor: dict[str, Any] | None = None
        async for page in UPDATED.poll(params, None, _ctx(client)):
            delivered += _keys(page.events)
            cursor = page.cursor
            if len(delivered) == 3:  # page 1 stored; row 8 changes before we reach it
                await client.request("PATCH", f"contacts({ids[8]})",
                                     json_body={"lastname": "changed"})
        after, _ = await poll_once(UPDATED, client, BASE, cursor)
    delivered += _keys(after)
    assert len(delivered) == len(set(delivered))
    by_id = {key.split(":")[0] for key in delivered}
    assert by_id == set(ids)
    changed = [k for k in delivered if k.startswith(ids[8])]
    assert len(changed) == 1 and int(changed[0].split(":")[1]) > 10  # only the new version


def _ctx(client: Any) -> Any:
    from tests.d365_support import step_context

    return step_context(client)


async def test_since_now_skips_existing_rows_and_changing_since_never_rewinds(
        emulator: RunningEmulator) -> None:
    await _insert(emulator, [{"lastname": "before", "modifiedon": iso(time.time() - 3600)}])
    params = {"table": "contacts", "select": ["lastname"]}
    async with d365_client(emulator) as client:
        start, cursor = await poll_once(UPDATED, client, params, None)
        await client.request("POST", "contacts", json_body={"lastname": "after"})
        later, cursor = await poll_once(UPDATED, client, {**params, "since": "beginning"}, cursor)
    assert start == [] and cursor["since"] == "now"
    assert [e.record["lastname"] for e in later] == ["after"]


async def test_since_a_date_reads_rows_from_that_date(emulator: RunningEmulator) -> None:
    now = time.time()
    await _insert(emulator, [{"lastname": "old", "modifiedon": iso(now - 7200)},
                             {"lastname": "new", "modifiedon": iso(now - 600)}])
    async with d365_client(emulator) as client:
        events, cursor = await poll_once(UPDATED, client, {**BASE, "since": iso(now - 3600)},
                                         None)
    assert [e.record["lastname"] for e in events] == ["new"]
    assert cursor["floor"] == iso(now - 3600)[:19]


async def test_crash_mid_poll_resumes_from_the_stored_page_cursor_without_repeats(
        emulator: RunningEmulator) -> None:
    second = iso(time.time() - 30)
    ids = await _insert(emulator, [{"lastname": f"L{i}", "modifiedon": second} for i in range(17)])
    params = {**BASE, "page_size": 4}
    async with d365_client(emulator) as client:
        part, cursor = await poll_once(UPDATED, client, params, None, stop_after_pages=2)
        rest, cursor = await poll_once(UPDATED, client, params, cursor)
        nothing, _ = await poll_once(UPDATED, client, params, cursor)
    keys = _keys(part) + _keys(rest)
    assert len(part) == 8 and len(keys) == len(set(keys)) == 17 and nothing == []
    assert {k.split(":")[0] for k in keys} == set(ids)


async def test_new_record_fires_once_per_row_and_ignores_updates(
        emulator: RunningEmulator) -> None:
    params = {**BASE, "select": ["lastname", "createdon"]}
    ids = await _insert(emulator, [{"lastname": "a", "createdon": iso(time.time() - 50)}])
    async with d365_client(emulator) as client:
        first, cursor = await poll_once(NEW_RECORD_SPEC, client, params, None)
        await client.request("PATCH", f"contacts({ids[0]})", json_body={"lastname": "b"})
        second, _ = await poll_once(NEW_RECORD_SPEC, client, params, cursor)
    assert _keys(first) == ids and first[0].kind == "created" and second == []


async def test_extra_filter_is_anded_and_quoted_values_stay_data(
        emulator: RunningEmulator) -> None:
    second = iso(time.time() - 30)
    await _insert(emulator, [{"lastname": "O'Bryan", "modifiedon": second},
                             {"lastname": "Smith", "modifiedon": second}])
    params = {**BASE, "filter": "lastname eq 'O''Bryan'"}
    async with d365_client(emulator) as client:
        events, _ = await poll_once(UPDATED, client, params, None)
    assert [e.record["lastname"] for e in events] == ["O'Bryan"]
