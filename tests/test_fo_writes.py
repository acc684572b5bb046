"""F&O writes: create, update, delete, server-stamped dates, write failures, actions."""

from __future__ import annotations

from emulator import RunningEmulator
from tests.fo_support import customer, fo_api

KEY = "CustomersV3(dataAreaId='usmf',CustomerAccount='US-100')"
WRITE_EXCEPTION = "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException"


async def test_post_creates_and_answers_201_with_the_entity_and_its_location(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        reply = await api.post("CustomersV3", {
            "CustomerAccount": "US-100", "CustomerGroupId": "10", "CreditLimit": 2500,
            "OrganizationName": "O'Brien Ltd", "IsSalesTaxIncludedInPrice": "Yes",
            "ModifiedDateTime": "2001-01-01T00:00:00Z"})
        fetched = await api.get(KEY)
    assert reply.status == 201
    body = reply.json
    assert reply.headers["Location"].endswith(KEY)
    assert body["@odata.context"].endswith("$metadata#CustomersV3/$entity")
    assert body["dataAreaId"] == "usmf"
    assert body["CreditLimit"] == 2500
    assert body["IsSalesTaxIncludedInPrice"] == "Yes"
    assert body["OnHoldStatus"] == "No", "an enum left out takes its first member"
    assert body["ModifiedDateTime"] == body["CreatedDateTime"] != "2001-01-01T00:00:00Z", (
        "the server stamps the change and created dates")
    assert reply.headers["ETag"] == body["@odata.etag"]
    assert fetched.json["OrganizationName"] == "O'Brien Ltd"


async def test_patch_answers_204_and_moves_only_the_change_date(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        created = (await api.post("CustomersV3", customer("US-100"))).json
        emulator.state.clock.advance(90)
        patched = await api.patch(KEY, {"CreditLimit": 99.5, "CreatedDateTime":
                                        "1999-01-01T00:00:00Z"})
        after = (await api.get(KEY)).json
    assert patched.status == 204
    assert after["CreditLimit"] == 99.5
    assert after["CreatedDateTime"] == created["CreatedDateTime"]
    assert after["ModifiedDateTime"] > created["ModifiedDateTime"]
    assert after["@odata.etag"] != created["@odata.etag"]


async def test_change_date_field_differs_per_entity(emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        order = await api.post("SalesOrderHeadersV2", {
            "SalesOrderNumber": "SO-1", "OrderingCustomerAccountNumber": "US-001"})
        vendor = await api.post("VendorsV2", {"VendorAccountNumber": "V-1",
                                              "VendorGroupId": "10"})
        entities = await api.control("GET", "entities")
    assert order.status == 201 and vendor.status == 201
    assert order.json["modifiedDateTime1"] == order.json["OrderCreationDateTime"]
    assert "ModifiedDateTime" in vendor.json and "CreatedDateTime" not in vendor.json
    dates = {e["name"]: (e["change_date_field"], e["created_date_field"])
             for e in entities["entities"]}
    assert dates["VendorsV2"] == ("ModifiedDateTime", None)
    assert dates["SalesOrderHeadersV2"] == ("modifiedDateTime1", "OrderCreationDateTime")


async def test_delete_answers_204_and_the_entity_is_gone(emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await api.post("CustomersV3", customer("US-100"))
        deleted = await api.delete(KEY)
        again = await api.get(KEY)
    assert deleted.status == 204
    assert again.status == 404


async def test_write_failures_answer_ax_write_exception(emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await api.post("CustomersV3", customer("US-100"))
        duplicate = await api.post("CustomersV3", customer("us-100"))
        missing = await api.post("CustomersV3", {"CustomerAccount": "US-101"})
        key_change = await api.patch(KEY, {"CustomerAccount": "US-999"})
        unknown = await api.post("CustomersV3", customer("US-102", Colour="red"))
    assert duplicate.status == 500
    assert duplicate.json["error"]["message"] == "An error has occurred."
    assert duplicate.inner["type"] == WRITE_EXCEPTION
    assert duplicate.inner["message"].startswith(
        "Write failed for table row of type 'CustCustomerV3Entity'. Infolog: ")
    assert "Field 'CustomerGroupId' must be filled in" in missing.inner["message"]
    assert key_change.status == 500
    assert unknown.status == 400
    assert "The property 'Colour' does not exist" in unknown.inner["message"]


async def test_collection_and_entity_bound_actions(emulator: RunningEmulator) -> None:
    action = "Microsoft.Dynamics.DataEntities"
    async with fo_api(emulator) as api:
        await api.insert("SalesOrderHeadersV2", [
            {"SalesOrderNumber": f"SO-{i}", "OrderingCustomerAccountNumber": "US-001",
             "SalesOrderStatus": "Backorder"} for i in range(3)])
        counted = await api.post(f"SalesOrderHeadersV2/{action}.GetOpenOrderCount",
                                 {"customerAccount": "US-001"})
        order = "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='SO-1')"
        cancelled = await api.post(f"{order}/{action}.CancelOrder", {})
        after = await api.get(order)
        recount = await api.post(f"SalesOrderHeadersV2/{action}.GetOpenOrderCount", {})
        bad = await api.post(f"SalesOrderHeadersV2/{action}.GetOpenOrderCount", {"x": 1})
        unknown = await api.post(f"SalesOrderHeadersV2/{action}.Explode", {})
    assert counted.status == 200
    assert counted.json == {"@odata.context": f"{emulator.base_url}/data/$metadata#Edm.Int32",
                            "value": 3}
    assert cancelled.status == 204
    assert after.json["SalesOrderStatus"] == "Canceled"
    assert recount.json["value"] == 2
    assert bad.status == 400
    assert unknown.status == 404
