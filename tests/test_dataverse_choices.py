"""Multi-select choice columns and Dataverse's query functions in $filter."""

from __future__ import annotations

from urllib.parse import quote

from emulator import RunningEmulator
from emulator.dataverse import apply_seed
from tests.dataverse_client import Api, dataverse_api

COLORS = {1: "Red", 2: "Green", 3: "Blue", 12: "Black"}
SEED = {"tables": [{"logical_name": "new_palette", "attributes": [
    {"name": "new_colors", "type": "multiselect", "options": COLORS}]}]}
FORMATTED = {"Prefer": 'odata.include-annotations="*"'}


async def _names(api: Api, query: str) -> list[str]:
    reply = await api.get(f"new_palettes?$select=new_name&$filter={quote(query)}")
    assert reply.status == 200, reply.text
    return sorted(r["new_name"] for r in reply.json["value"])


async def test_multi_select_values_round_trip_with_labels_and_validation(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, SEED)
    async with dataverse_api(emulator) as api:
        made = await api.post("new_palettes?$select=new_colors",
                              {"new_name": "warm", "new_colors": "3, 1,3"},
                              headers={"Prefer": 'return=representation,'
                                                 'odata.include-annotations="*"'})
        wrong = await api.post("new_palettes", {"new_name": "x", "new_colors": "1,9"})
        assert (await _names(api, "new_name eq 'x'")) == []
        not_text = await api.post("new_palettes", {"new_name": "x", "new_colors": [1, 2]})
        described = await api.get(
            "EntityDefinitions(LogicalName='new_palette')/Attributes(LogicalName='new_colors')"
            "/Microsoft.Dynamics.CRM.MultiSelectPicklistAttributeMetadata?$expand=OptionSet")
    assert made.json["new_colors"] == "3,1"
    assert made.json["new_colors@OData.Community.Display.V1.FormattedValue"] == "Blue; Red"
    assert wrong.status == 400 and wrong.error_code == "0x80044331"
    assert not_text.status == 400
    assert described.json["AttributeType"] == "Virtual"
    assert described.json["AttributeTypeName"] == {"Value": "MultiSelectPicklistType"}
    assert [o["Value"] for o in described.json["OptionSet"]["Options"]] == [1, 2, 3, 12]


async def test_contain_values_and_does_not_contain_values(emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, SEED)
    async with dataverse_api(emulator) as api:
        for name, colors in (("rg", "1,2"), ("b", "3"), ("none", None), ("r12", "12")):
            await api.create("new_palettes", {"new_name": name, "new_colors": colors})
        fn = "Microsoft.Dynamics.CRM."
        red = await _names(api, f"{fn}ContainValues(PropertyName='new_colors',"
                                "PropertyValues=['1'])")
        red_or_blue = await _names(api, f"{fn}ContainValues(PropertyName='new_colors',"
                                        "PropertyValues=['1','3'])")
        no_red = await _names(api, f"{fn}DoesNotContainValues(PropertyName='new_colors',"
                                   "PropertyValues=['1'])")
        exact = await _names(api, "new_colors eq '3'")
    assert red == ["rg"]  # "12" is not value 1
    assert red_or_blue == ["b", "rg"]
    assert no_red == ["b", "none", "r12"]
    assert exact == ["b"]


async def test_query_functions_in_between_and_dates(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        await api.control_insert("account", [
            {"name": "a", "numberofemployees": 5, "createdon": "2020-01-01T10:00:00Z"},
            {"name": "b", "numberofemployees": 50},
            {"name": "c", "numberofemployees": 500}])
        fn = "Microsoft.Dynamics.CRM."

        async def names(query: str) -> list[str]:
            reply = await api.get(f"accounts?$select=name&$filter={quote(query)}")
            assert reply.status == 200, reply.text
            return sorted(r["name"] for r in reply.json["value"])
        within = await names(f"{fn}Between(PropertyName='numberofemployees',"
                             "PropertyValues=['10','100'])")
        chosen = await names(f"{fn}In(PropertyName='name',PropertyValues=['a','c'])")
        recent = await names(f"{fn}LastXDays(PropertyName='createdon',PropertyValue=7)")
        old = await names(f"{fn}OlderThanXDays(PropertyName='createdon',PropertyValue=30)")
        on_day = await names(f"{fn}On(PropertyName='createdon',PropertyValue='2020-01-01')")
        mine = await names(f"{fn}EqualUserId(PropertyName='createdby')")
        unknown = await api.get("accounts?$filter=" + quote(
            f"{fn}InFiscalYear(PropertyName='createdon',PropertyValue=2020)"))
    assert within == ["b"] and chosen == ["a", "c"]
    assert recent == ["b", "c"] and old == ["a"] and on_day == ["a"]
    assert mine == []  # the control plane wrote them as SYSTEM
    assert unknown.status == 400 and "InFiscalYear" in unknown.json["error"]["message"]
