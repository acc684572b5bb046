"""batch: bulk messages in parallel chunks, $batch fallback, mixed change sets."""

from __future__ import annotations

from typing import Any

import pytest

from emulator import RunningEmulator
from tests.d365_actions_support import run
from tests.d365_support import d365_client, request_log

OPTION_SETS_THROUGH_CASTS = pytest.mark.xfail(strict=True, reason=(
    "the connector reads option sets from $expand=Attributes; Dataverse (and now the "
    "emulator) returns OptionSet only through the PicklistAttributeMetadata/State/Status/"
    "Boolean casts (issue 14 item 1): connector fix pending"))


async def _accounts(client: Any) -> dict[str, dict[str, Any]]:
    found = await run(client, "search_records", table="accounts", all_pages=True,
                      select=["name", "accountnumber", "industrycode"])
    return {r["accountnumber"] or r["accountid"]: r for r in found["rows"]}


@OPTION_SETS_THROUGH_CASTS
async def test_bulk_create_in_parallel_chunks_uses_create_multiple_and_returns_ids(
        emulator: RunningEmulator) -> None:
    rows = [{"name": f"N{i}", "accountnumber": f"A-{i}", "industrycode": "Consulting"}
            for i in range(250)]
    async with d365_client(emulator) as client:
        out = await run(client, "batch", table="accounts", operation="create", rows=rows,
                        chunk_size=100, parallel=3)
        stored = await _accounts(client)
    log = await request_log(emulator, "/api/data/v9.2/accounts/Microsoft.Dynamics.CRM.*")
    assert out["succeeded"] == 250 and out["failed"] == 0
    assert out["requests"] == 3 and out["fallbacks"] == 0 and len(log) == 3
    assert all(entry["path"].endswith("CreateMultiple") for entry in log)
    assert [r["index"] for r in out["results"]] == list(range(250))
    assert stored["A-7"]["accountid"] == out["results"][7]["id"]
    assert stored["A-7"]["industrycode"] == 7


async def test_whole_chunk_failure_falls_back_to_batch_and_reports_each_row(
        emulator: RunningEmulator) -> None:
    rows = [{"name": f"N{i}", "accountnumber": f"K-{i}"} for i in range(30)]
    rows[12]["name"] = "x" * 161  # too long: the bulk message fails as a whole
    rows[20]["industrycode"] = "Plumbing"  # unknown label: fails before any request
    async with d365_client(emulator) as client:
        out = await run(client, "batch", table="accounts", operation="upsert", rows=rows,
                        key_columns=["accountnumber"], chunk_size=10)
        stored = await _accounts(client)
    log = await request_log(emulator, "/api/data/v9.2/*")
    paths = [e["path"].rsplit("/", 1)[-1] for e in log if e["method"] == "POST"]
    assert paths.count("Microsoft.Dynamics.CRM.UpsertMultiple") == 3 and "$batch" in paths
    assert out["fallbacks"] == 1 and out["failed"] == 2 and out["succeeded"] == 28
    bad = out["results"][12]
    assert bad["ok"] is False and bad["error"]["status"] == 400
    assert bad["error"]["code"] == "0x80044331"
    assert "Plumbing" in out["results"][20]["error"]["message"]
    assert out["results"][13]["ok"] and out["results"][13]["id"] == stored["K-13"]["accountid"]
    assert "K-12" not in stored and "K-20" not in stored and len(stored) == 28


async def test_bulk_update_and_batch_strategy_upsert_by_alternate_key_with_quotes(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        created = await run(client, "batch", table="accounts", operation="create",
                            rows=[{"name": "a", "accountnumber": "Q'1"},
                                  {"name": "b", "accountnumber": "Q'2"}])
        ids = [r["id"] for r in created["results"]]
        updated = await run(client, "batch", table="accounts", operation="update",
                            rows=[{"accountid": ids[0], "name": "a2"},
                                  {"accountid": ids[1], "name": "b2"}])
        upserted = await run(client, "batch", table="accounts", operation="upsert",
                             strategy="batch", key_columns=["accountnumber"],
                             rows=[{"accountnumber": "Q'1", "name": "a3"},
                                   {"accountnumber": "Q'3", "name": "c"}])
        stored = await _accounts(client)
    assert updated["succeeded"] == 2 and updated["requests"] == 1
    assert upserted["succeeded"] == 2 and upserted["fallbacks"] == 0
    assert upserted["results"][0]["id"] == ids[0]
    assert upserted["results"][1]["id"] == stored["Q'3"]["accountid"]
    assert {k: v["name"] for k, v in stored.items()} == {"Q'1": "a3", "Q'2": "b2", "Q'3": "c"}


async def test_mixed_atomic_change_set_rolls_back_everything_on_one_failure(
        emulator: RunningEmulator) -> None:
    requests = [{"operation": "create", "table": "accounts", "fields": {"name": "ok"}},
                {"operation": "update", "table": "contacts",
                 "id": "00000000-0000-4000-8000-000000000009", "fields": {"lastname": "x"}},
                {"operation": "create", "table": "tasks", "fields": {"subject": "t"}}]
    async with d365_client(emulator) as client:
        out = await run(client, "batch", requests=requests, atomic=True)
        stored = await _accounts(client)
    assert out["failed"] == 3 and stored == {}
    assert out["results"][1]["error"]["code"] == "0x80040217"
    assert out["results"][0]["error"]["code"] == "rolled_back"


async def test_mixed_atomic_success_and_continue_on_error_with_per_item_results(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        account = await run(client, "create_record", table="accounts",
                            fields={"name": "gone", "accountnumber": "D-1"})
        atomic = await run(client, "batch", atomic=True, requests=[
            {"operation": "create", "table": "accounts", "fields": {"name": "one"}},
            {"operation": "upsert", "table": "accounts", "key": {"accountnumber": "U-1"},
             "fields": {"name": "two"}}])
        loose = await run(client, "batch", requests=[
            {"operation": "delete", "table": "accounts", "key": {"accountnumber": "D-1"}},
            {"operation": "update", "table": "accounts",
             "id": "00000000-0000-4000-8000-000000000009", "fields": {"name": "missing"}},
            {"operation": "create", "table": "tasks", "fields": {"subject": "after"}}])
        stored = await _accounts(client)
    assert atomic["succeeded"] == 2 and atomic["requests"] == 1
    assert atomic["results"][1]["id"] == stored["U-1"]["accountid"]
    assert [r["ok"] for r in loose["results"]] == [True, False, True]
    assert loose["results"][1]["error"]["status"] == 404
    assert account["id"] not in {r["accountid"] for r in stored.values()}
