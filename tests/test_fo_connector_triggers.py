"""The F&O date triggers against the emulator: each record version exactly once, on each
entity's own date field, in the right companies."""

from __future__ import annotations

import time
from typing import Any

import pytest

from connectors.base import StepContext
from connectors.catalog import default_registry
from connectors.errors import RecipeError
from emulator import RunningEmulator
from tests.d365_support import iso, request_log
from tests.fo_connector_support import fo_client, poll_once, run_action
from tests.fo_support import customer, fo_api

BASE = {"entity": "CustomersV3", "since": "beginning"}


async def _insert(emulator: RunningEmulator, entity: str, rows: list[dict[str, Any]]) -> None:
    async with fo_api(emulator) as api:
        await api.insert(entity, rows)


def _accounts(events: list[Any]) -> list[str]:
    return [e.record["CustomerAccount"] for e in events]


async def test_rows_sharing_one_second_across_pages_are_delivered_once_in_order(
        emulator: RunningEmulator) -> None:
    second = iso(time.time() - 60)
    await _insert(emulator, "CustomersV3", [
        customer(f"C{i:03d}", ModifiedDateTime=second, CreatedDateTime=second)
        for i in range(23)])
    params = {**BASE, "page_size": 5, "select": ["OrganizationName"]}
    async with fo_client(emulator) as client:
        first, cursor = await poll_once("new_or_updated_record", client, params, None)
        again, _ = await poll_once("new_or_updated_record", client, params, cursor)
    assert _accounts(first) == [f"C{i:03d}" for i in range(23)] and again == []
    assert first[0].key == f"usmf|C000@{second[:19]}"
    assert {e.kind for e in first} == {"created"}
    assert set(first[0].record) >= {"CustomerAccount", "ModifiedDateTime", "OrganizationName"}


async def test_an_update_is_a_new_event_and_a_late_commit_is_found_by_the_lookback(
        emulator: RunningEmulator) -> None:
    now = time.time()
    await _insert(emulator, "CustomersV3", [customer("A", ModifiedDateTime=iso(now - 30),
                                                     CreatedDateTime=iso(now - 30))])
    async with fo_client(emulator, data_area="usmf") as client:
        first, cursor = await poll_once("new_or_updated_record", client, BASE, None)
        await run_action("update_record", client, {"entity": "CustomersV3", "key": {
            "CustomerAccount": "A"}, "fields": {"OrganizationName": "Renamed"}})
        await _insert(emulator, "CustomersV3", [customer("LATE", ModifiedDateTime=iso(now - 200))])
        second, cursor = await poll_once("new_or_updated_record", client, BASE, cursor)
        third, _ = await poll_once("new_or_updated_record", client, BASE, cursor)
    assert _accounts(first) == ["A"]
    assert sorted(_accounts(second)) == ["A", "LATE"] and third == []
    renamed = next(e for e in second if e.record["CustomerAccount"] == "A")
    assert renamed.kind == "updated" and renamed.record["OrganizationName"] == "Renamed"


async def test_each_entity_uses_its_own_change_date_field(emulator: RunningEmulator) -> None:
    stamp = iso(time.time() - 20)
    await _insert(emulator, "SalesOrderHeadersV2", [
        {"SalesOrderNumber": f"SO-{i}", "OrderingCustomerAccountNumber": "US-001",
         "modifiedDateTime1": stamp} for i in range(3)])
    params = {"entity": "SalesOrderHeadersV2", "since": "beginning",
              "date_field": "modifiedDateTime1", "select": ["SalesOrderNumber"]}
    async with fo_client(emulator) as client:
        events, cursor = await poll_once("new_or_updated_record", client, params, None)
    assert [e.record["SalesOrderNumber"] for e in events] == ["SO-0", "SO-1", "SO-2"]
    assert cursor["watermark"] >= stamp[:19]


async def test_new_record_reads_the_created_date_field_and_ignores_updates(
        emulator: RunningEmulator) -> None:
    old = iso(time.time() - 50)
    await _insert(emulator, "ReleasedProductsV2", [
        {"ItemNumber": "I-1", "CreatedDateTime1": old, "ModifiedDateTime1": old}])
    params = {"entity": "ReleasedProductsV2", "since": "beginning",
              "date_field": "CreatedDateTime1"}
    async with fo_client(emulator, data_area="usmf") as client:
        first, cursor = await poll_once("new_record", client, params, None)
        await run_action("update_record", client, {"entity": "ReleasedProductsV2",
                                                   "key": {"ItemNumber": "I-1"},
                                                   "fields": {"SearchName": "changed"}})
        second, _ = await poll_once("new_record", client, params, cursor)
    assert [(e.record["ItemNumber"], e.kind) for e in first] == [("I-1", "created")]
    assert second == []


async def test_an_entity_without_the_date_field_is_a_recipe_error_naming_its_fields(
        emulator: RunningEmulator) -> None:
    async with fo_client(emulator) as client:
        with pytest.raises(RecipeError) as raised:
            await poll_once("new_record", client, {"entity": "VendorsV2"}, None)
        with pytest.raises(RecipeError, match="did you mean CustomersV3"):
            await poll_once("new_record", client, {"entity": "CustomersV2"}, None)
    assert "VendorsV2" in str(raised.value) and "'CreatedDateTime'" in str(raised.value)
    assert "ModifiedDateTime" in str(raised.value)


async def test_company_comes_from_the_connection_and_cross_company_reads_all(
        emulator: RunningEmulator) -> None:
    stamp = iso(time.time() - 10)
    await _insert(emulator, "CustomersV3", [
        customer("U1", "usmf", ModifiedDateTime=stamp), customer("D1", "demf",
                                                                 ModifiedDateTime=stamp),
        customer("G1", "gbsi", ModifiedDateTime=stamp)])
    async with fo_client(emulator, data_area="DEMF") as client:
        own, _ = await poll_once("new_or_updated_record", client, BASE, None)
        other, _ = await poll_once("new_or_updated_record", client,
                                   {**BASE, "data_area": "gbsi"}, None)
        every, _ = await poll_once("new_or_updated_record", client,
                                   {**BASE, "cross_company": True}, None)
    async with fo_client(emulator) as client:  # no company: F&O's default company (usmf)
        default, _ = await poll_once("new_or_updated_record", client, BASE, None)
    assert _accounts(own) == ["D1"] and _accounts(other) == ["G1"]
    assert sorted(_accounts(every)) == ["D1", "G1", "U1"] and _accounts(default) == ["U1"]


async def test_since_now_skips_history_and_delivers_what_comes_after(
        emulator: RunningEmulator) -> None:
    await _insert(emulator, "CustomersV3", [customer("OLD", ModifiedDateTime=iso(time.time() - 9))])
    async with fo_client(emulator) as client:
        first, cursor = await poll_once("new_or_updated_record", client,
                                        {"entity": "CustomersV3"}, None)
        await run_action("create_record", client, {"entity": "CustomersV3", "fields": {
            "CustomerAccount": "NEW", "CustomerGroupId": "10"}})
        second, _ = await poll_once("new_or_updated_record", client,
                                    {"entity": "CustomersV3"}, cursor)
    assert first == [] and _accounts(second) == ["NEW"]


async def test_25000_rows_are_read_in_keyset_pages_of_10000_exactly_once(
        emulator: RunningEmulator) -> None:
    stamp = time.time() - 600
    await _insert(emulator, "CustomersV3", [
        customer(f"C{i:06d}", ModifiedDateTime=iso(stamp + i // 3000)) for i in range(25_000)])
    params = {**BASE, "page_size": 10_000, "select": ["CustomerAccount"]}
    async with fo_client(emulator) as client:
        events, cursor = await poll_once("new_or_updated_record", client, params, None)
        pages = await request_log(emulator, "/data/CustomersV3*")
        again, _ = await poll_once("new_or_updated_record", client, params, cursor)
    accounts = _accounts(events)
    assert len(pages) == 3 and all("top=10000" in p["query"] for p in pages)
    assert len(accounts) == len(set(accounts)) == 25_000 and again == []


async def test_rows_deleted_or_changed_while_the_poll_pages_hide_no_other_row(
        emulator: RunningEmulator) -> None:
    stamp = iso(time.time() - 30)
    await _insert(emulator, "CustomersV3", [customer(f"M{i}", ModifiedDateTime=stamp)
                                            for i in range(6)])
    spec = default_registry().triggers["dynamics_fo.new_or_updated_record"]
    params = spec.params.model_validate({**BASE, "page_size": 2})
    events: list[Any] = []
    async with fo_client(emulator, data_area="usmf") as client:
        pages = spec.poll(params, None, StepContext(recipe="test", connection=client))
        async for page in pages:
            events += page.events
            if len(events) == 2:  # offsets would now shift by one: M2 would be skipped
                await run_action("delete_record", client, {"entity": "CustomersV3",
                                                           "key": {"CustomerAccount": "M0"}})
                await run_action("update_record", client, {
                    "entity": "CustomersV3", "key": {"CustomerAccount": "M1"},
                    "fields": {"NameAlias": "moved"}})
        cursor = page.cursor
        later, _ = await poll_once("new_or_updated_record", client, BASE, cursor)
    accounts = _accounts(events + later)
    assert sorted(set(accounts)) == [f"M{i}" for i in range(6)]
    assert accounts.count("M1") == 2 and len(accounts) == 7
