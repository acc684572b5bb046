"""F&O reads: companies, enum literals, wildcards, query options and key access."""

from __future__ import annotations

from emulator import RunningEmulator
from tests.fo_support import NO_YES, FoApi, customer, fo_api


async def _three_companies(api: FoApi) -> None:
    await api.insert("CustomersV3", [
        customer("US-001", IsSalesTaxIncludedInPrice="Yes", CreditLimit=500),
        customer("US-002", OrganizationName="Contoso Retail San Diego", CreditLimit=1500),
        customer("US-003", OrganizationName="Fabrikam", IsSalesTaxIncludedInPrice="Yes"),
        customer("DE-001", "demf", IsSalesTaxIncludedInPrice="Yes"),
        customer("RT-001", "usrt", OrganizationName="retail store")])


def _accounts(body: dict[str, object]) -> list[str]:
    return [row["CustomerAccount"] for row in body["value"]]  # type: ignore[attr-defined, index]


async def test_without_cross_company_only_the_default_company_is_returned(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await _three_companies(api)
        reply = await api.get("CustomersV3")
    assert reply.status == 200
    assert _accounts(reply.json) == ["US-001", "US-002", "US-003"]
    assert {row["dataAreaId"] for row in reply.json["value"]} == {"usmf"}


async def test_cross_company_returns_every_company_and_filters_on_data_area_id(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await _three_companies(api)
        everything = await api.get("CustomersV3?cross-company=true")
        one = await api.get("CustomersV3?$filter=dataAreaId eq 'usrt'&cross-company=true")
    assert sorted(_accounts(everything.json)) == ["DE-001", "RT-001", "US-001", "US-002",
                                                  "US-003"]
    assert _accounts(one.json) == ["RT-001"]


async def test_default_company_is_configurable_by_control_route(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await _three_companies(api)
        assert await api.control("PUT", "settings", {"default_company": "DEMF"}) == {
            "default_company": "demf"}
        reply = await api.get("CustomersV3")
        created = await api.post("CustomersV3", {"CustomerAccount": "DE-002",
                                                 "CustomerGroupId": "20"})
    assert _accounts(reply.json) == ["DE-001"]
    assert created.json["dataAreaId"] == "demf"


async def test_key_access_in_another_company_needs_cross_company(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await _three_companies(api)
        key = "CustomersV3(dataAreaId='demf',CustomerAccount='DE-001')"
        hidden = await api.get(key)
        found = await api.get(key + "?cross-company=true")
        own = await api.get("CustomersV3(dataAreaId='usmf',CustomerAccount='us-001')")
    assert hidden.status == 404
    assert hidden.inner["message"] == "Resource not found for the segment 'CustomersV3'."
    assert found.status == 200
    assert found.json["CustomerAccount"] == "DE-001"
    assert found.json["@odata.context"].endswith("/data/$metadata#CustomersV3/$entity")
    assert own.status == 200, "key values compare case-insensitively, as on SQL Server"


async def test_key_must_name_every_key_field(emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        reply = await api.get("CustomersV3(CustomerAccount='US-001')")
    assert reply.status == 400
    assert "The key in the request URI is not valid" in reply.inner["message"]


async def test_enum_literals_filter_with_eq_and_ne(emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await _three_companies(api)
        yes = await api.get(f"CustomersV3?$filter=IsSalesTaxIncludedInPrice eq {NO_YES}'Yes'")
        no = await api.get(f"CustomersV3?$filter=IsSalesTaxIncludedInPrice ne {NO_YES}'Yes'")
    assert _accounts(yes.json) == ["US-001", "US-003"]
    assert _accounts(no.json) == ["US-002"]
    assert yes.json["value"][0]["IsSalesTaxIncludedInPrice"] == "Yes", "enums come as names"


async def test_other_operators_on_enums_are_refused_with_the_odata_error(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        gt = await api.get(f"CustomersV3?$filter=IsSalesTaxIncludedInPrice gt {NO_YES}'No'")
        plain = await api.get("CustomersV3?$filter=IsSalesTaxIncludedInPrice eq 'Yes'")
        member = await api.get(f"CustomersV3?$filter=IsSalesTaxIncludedInPrice eq {NO_YES}'Si'")
    assert gt.status == 400
    assert gt.json["error"]["code"] == ""
    assert gt.inner["message"] == (
        "A binary operator with incompatible types was detected. Found operand types "
        f"'{NO_YES}' and '{NO_YES}' for operator kind 'GreaterThan'.")
    assert gt.inner["type"] == "Microsoft.OData.ODataException"
    assert "'Edm.String' for operator kind 'Equal'" in plain.inner["message"]
    assert member.status == 400
    assert "'Si' is not a valid enumeration type constant" in member.inner["message"]


async def test_wildcards_act_as_contains_and_has_or_in_are_refused(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await _three_companies(api)
        retail = await api.get("CustomersV3?$filter=OrganizationName eq '*retail*'"
                               "&cross-company=true")
        has = await api.get(f"CustomersV3?$filter=IsSalesTaxIncludedInPrice has {NO_YES}'Yes'")
        in_list = await api.get("CustomersV3?$filter=CustomerAccount in ('US-001','US-002')")
    assert sorted(_accounts(retail.json)) == ["RT-001", "US-002"]
    assert has.status == 400
    assert "'has' operator is not supported" in has.inner["message"]
    assert in_list.status == 400
    assert "'in' operator is not supported" in in_list.inner["message"]


async def test_select_orderby_top_skip_and_count(emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await _three_companies(api)
        reply = await api.get("CustomersV3?$select=CustomerAccount,CreditLimit"
                              "&$orderby=CreditLimit desc&$top=2&$skip=1&$count=true")
        count = await api.get("CustomersV3/$count?cross-company=true")
    body = reply.json
    assert body["@odata.context"].endswith("$metadata#CustomersV3(CustomerAccount,CreditLimit)")
    assert body["@odata.count"] == 3
    assert [set(row) for row in body["value"]] == [
        {"@odata.etag", "CustomerAccount", "CreditLimit"}] * 2
    assert _accounts(body) == ["US-001", "US-003"]
    assert "@odata.nextLink" not in body
    assert count.text == "5"


async def test_datetime_filter_on_the_change_date_field(emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await api.insert("CustomersV3", [
            customer("US-001", ModifiedDateTime="2024-03-01T12:00:00Z"),
            customer("US-002", ModifiedDateTime="2024-03-01T12:00:01Z")])
        reply = await api.get("CustomersV3?$filter=ModifiedDateTime gt 2024-03-01T12:00:00Z")
        quoted = await api.get("CustomersV3?$filter=ModifiedDateTime gt '2024-03-01T12:00:00Z'")
    assert _accounts(reply.json) == ["US-002"]
    assert reply.json["value"][0]["ModifiedDateTime"] == "2024-03-01T12:00:01Z"
    assert quoted.status == 400, "OData v4 does not compare a DateTimeOffset with a string"


async def test_unknown_property_and_option_errors_carry_innererror(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        field = await api.get("CustomersV3?$select=Nope")
        option = await api.get("CustomersV3?$apply=groupby((dataAreaId))")
        entity_set = await api.get("NoSuchEntities")
    assert field.status == 400
    assert field.inner["message"] == (
        "Could not find a property named 'Nope' on type "
        "'Microsoft.Dynamics.DataEntities.CustomerV3'.")
    assert set(field.inner) == {"message", "type", "stacktrace"}
    assert option.status == 400
    assert entity_set.status == 404
    assert entity_set.json["error"]["message"] == "An error has occurred."
