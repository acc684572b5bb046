"""The F&O actions against the emulator: records by full key in any company, search over
pages, $batch creates, OData actions and raw requests."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.errors import FatalError, RecipeError
from emulator import RunningEmulator
from tests.fo_connector_support import fo_client, run_action
from tests.fo_support import customer, fo_api

CUSTOMERS = {"entity": "CustomersV3"}


async def _rows(emulator: RunningEmulator, entity: str) -> list[dict[str, Any]]:
    async with fo_api(emulator) as api:
        return await api.rows(entity)


async def _insert(emulator: RunningEmulator, entity: str, rows: list[dict[str, Any]]) -> None:
    async with fo_api(emulator) as api:
        await api.insert(entity, rows)


async def test_create_record_fills_the_company_and_returns_the_stored_record(
        emulator: RunningEmulator) -> None:
    async with fo_client(emulator, data_area="DEMF") as client:
        out = await run_action("create_record", client, {**CUSTOMERS, "fields": {
            "CustomerAccount": "O'Brien", "CustomerGroupId": "10", "OnHoldStatus": "Invoice"}})
    assert out["key"] == {"dataAreaId": "demf", "CustomerAccount": "O'Brien"}
    assert out["record"]["OnHoldStatus"] == "Invoice" and "@odata.context" not in out["record"]
    assert [(r["dataAreaId"], r["CustomerAccount"]) for r in
            await _rows(emulator, "CustomersV3")] == [("demf", "O'Brien")]


async def test_get_update_and_delete_address_another_company_by_full_key(
        emulator: RunningEmulator) -> None:
    await _insert(emulator, "CustomersV3", [customer("A/1 O'Neil", "gbsi")])
    key = {"dataAreaId": "gbsi", "CustomerAccount": "A/1 O'Neil"}
    async with fo_client(emulator, data_area="usmf") as client:
        got = await run_action("get_record", client, {**CUSTOMERS, "key": key,
                                                      "select": ["OrganizationName"]})
        updated = await run_action("update_record", client, {
            **CUSTOMERS, "key": key, "fields": {"CreditLimit": 500}, "return_record": True})
        deleted = await run_action("delete_record", client, {**CUSTOMERS, "key": key})
        again = await run_action("delete_record", client, {**CUSTOMERS, "key": key,
                                                           "missing_ok": True})
        with pytest.raises(FatalError, match="get_record: no CustomersV3 record") as missing:
            await run_action("get_record", client, {**CUSTOMERS, "key": key})
    assert got["record"] == {"@odata.etag": got["record"]["@odata.etag"], **key,
                             "OrganizationName": "Customer A/1 O'Neil"}
    assert updated["record"]["CreditLimit"] == 500
    assert deleted == {"deleted": True} and again == {"deleted": False}
    assert missing.value.status == 404


async def test_a_key_without_company_or_with_unknown_fields_is_a_recipe_error(
        emulator: RunningEmulator) -> None:
    async with fo_client(emulator) as client:
        with pytest.raises(RecipeError, match="missing: dataAreaId"):
            await run_action("get_record", client, {**CUSTOMERS, "key": {"CustomerAccount": "A"}})
        with pytest.raises(RecipeError, match="not key fields: Name"):
            await run_action("get_record", client, {**CUSTOMERS, "key": {
                "dataAreaId": "usmf", "CustomerAccount": "A", "Name": "x"}})


async def test_upsert_creates_then_updates_and_update_only_refuses_a_missing_record(
        emulator: RunningEmulator) -> None:
    params = {**CUSTOMERS, "key": {"CustomerAccount": "U-1"},
              "fields": {"CustomerGroupId": "20", "OrganizationName": "First"}}
    async with fo_client(emulator, data_area="usmf") as client:
        created = await run_action("upsert_record", client, params)
        updated = await run_action("upsert_record", client, {
            **params, "fields": {"OrganizationName": "Second"}, "return_record": True})
        with pytest.raises(FatalError, match="upsert_record \\(update_only\\): no CustomersV3"):
            await run_action("upsert_record", client, {**params, "mode": "update_only",
                                                       "key": {"CustomerAccount": "U-2"}})
    assert created == {"key": {"dataAreaId": "usmf", "CustomerAccount": "U-1"}, "created": True}
    assert updated["created"] is False and updated["record"]["OrganizationName"] == "Second"
    assert updated["record"]["CustomerGroupId"] == "20"


async def test_a_failed_x_plus_plus_write_is_fatal_with_the_inner_message(
        emulator: RunningEmulator) -> None:
    async with fo_client(emulator, data_area="usmf") as client:
        with pytest.raises(FatalError) as raised:
            await run_action("create_record", client, {**CUSTOMERS, "fields": {
                "CustomerAccount": "NO-GROUP"}})
    assert raised.value.status == 500 and raised.value.code == "AxODataWriteException"
    assert "Field 'CustomerGroupId' must be filled in" in raised.value.message


async def test_search_filters_selects_orders_and_pages_with_top_and_skip(
        emulator: RunningEmulator) -> None:
    await _insert(emulator, "CustomersV3", [
        customer(f"S{i}", "usmf", CreditLimit=i * 100, IsSalesTaxIncludedInPrice="Yes"
                 if i % 2 else "No") for i in range(10)] + [customer("X1", "demf")])
    params = {**CUSTOMERS, "select": ["CustomerAccount", "CreditLimit"],
              "filter": "IsSalesTaxIncludedInPrice eq Microsoft.Dynamics.DataEntities.NoYes'Yes'",
              "orderby": "CreditLimit desc", "top": 3, "skip": 1}
    async with fo_client(emulator) as client:
        found = await run_action("search_records", client, params)
        companies = await run_action("search_records", client, {
            **CUSTOMERS, "cross_company": True, "select": ["dataAreaId"]})
        one = await run_action("search_records", client, {**CUSTOMERS, "data_area": "demf"})
    assert [r["CustomerAccount"] for r in found["records"]] == ["S7", "S5", "S3"]
    assert set(found["records"][0]) == {"@odata.etag", "CustomerAccount", "CreditLimit"}
    assert {r["dataAreaId"] for r in companies["records"]} == {"usmf", "demf"}
    assert [r["CustomerAccount"] for r in one["records"]] == ["X1"]


async def test_search_follows_skip_pages_across_25000_rows(emulator: RunningEmulator) -> None:
    await _insert(emulator, "CustomersV3", [customer(f"P{i:05d}") for i in range(25_000)])
    async with fo_client(emulator) as client:
        every = await run_action("search_records", client, {
            **CUSTOMERS, "select": ["CustomerAccount"]})
        capped = await run_action("search_records", client, {
            **CUSTOMERS, "select": ["CustomerAccount"], "max_records": 12_000})
    accounts = [r["CustomerAccount"] for r in every["records"]]
    assert every["count"] == len(set(accounts)) == 25_000 and every["more"] is False
    assert capped["count"] == 12_000 and capped["more"] is True


async def test_create_records_in_one_change_set_is_all_or_nothing(
        emulator: RunningEmulator) -> None:
    good = [{"CustomerAccount": f"B{i}", "CustomerGroupId": "10"} for i in range(3)]
    async with fo_client(emulator, data_area="usmf") as client:
        created = await run_action("create_records", client, {**CUSTOMERS, "records": good})
        with pytest.raises(FatalError, match="nothing was created; record 2 failed with 500"):
            await run_action("create_records", client, {**CUSTOMERS, "records": [
                {"CustomerAccount": "B9", "CustomerGroupId": "10"}, {"CustomerAccount": "B8"}]})
    assert created["created"] == 3
    assert [r["key"]["CustomerAccount"] for r in created["results"]] == ["B0", "B1", "B2"]
    assert sorted(r["CustomerAccount"] for r in await _rows(emulator, "CustomersV3")) == [
        "B0", "B1", "B2"]


async def test_create_records_not_atomic_reports_each_outcome(emulator: RunningEmulator) -> None:
    records = [{"CustomerAccount": "N1", "CustomerGroupId": "10"}, {"CustomerAccount": "N2"},
               {"CustomerAccount": "N3", "CustomerGroupId": "10", "dataAreaId": "demf"}]
    async with fo_client(emulator, data_area="usmf") as client:
        out = await run_action("create_records", client, {**CUSTOMERS, "records": records,
                                                          "atomic": False})
    assert out["created"] == 2 and [r["status"] for r in out["results"]] == [201, 500, 201]
    assert out["results"][1]["error"]["type"] == "AxODataWriteException"
    assert out["results"][2]["key"] == {"dataAreaId": "demf", "CustomerAccount": "N3"}


async def test_execute_action_on_the_collection_and_on_one_record(
        emulator: RunningEmulator) -> None:
    await _insert(emulator, "SalesOrderHeadersV2", [
        {"SalesOrderNumber": f"SO-{i}", "OrderingCustomerAccountNumber": "US-001",
         "SalesOrderStatus": "Backorder"} for i in range(3)])
    orders = {"entity": "SalesOrderHeadersV2"}
    async with fo_client(emulator, data_area="usmf") as client:
        count = await run_action("execute_action", client, {
            **orders, "action": "GetOpenOrderCount", "parameters": {"customerAccount": "US-001"}})
        cancel = await run_action("execute_action", client, {
            **orders, "action": "Microsoft.Dynamics.DataEntities.CancelOrder",
            "key": {"SalesOrderNumber": "SO-1"}})
        after = await run_action("execute_action", client, {
            **orders, "action": "GetOpenOrderCount", "parameters": {}})
    assert count == {"status": 200, "value": 3}
    assert cancel == {"status": 204, "value": None} and after["value"] == 2


async def test_request_sends_any_call_under_data(emulator: RunningEmulator) -> None:
    await _insert(emulator, "CustomersV3", [customer("R1"), customer("R2", "demf")])
    async with fo_client(emulator) as client:
        count = await run_action("request", client, {"path": "CustomersV3/$count",
                                                     "query": {"cross-company": "true"}})
        page = await run_action("request", client, {"path": "CustomersV3",
                                                    "query": {"$select": "CustomerAccount"}})
        with pytest.raises(ValueError, match="a path under /data/"):
            await run_action("request", client, {"path": "https://elsewhere.example/x"})
    assert count["status"] == 200 and count["body"] == "2"
    assert [r["CustomerAccount"] for r in page["body"]["value"]] == ["R1"]
