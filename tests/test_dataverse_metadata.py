"""EntityDefinitions and custom tables declared in a seed."""

from __future__ import annotations

from urllib.parse import quote

from emulator import RunningEmulator
from emulator.dataverse import apply_seed
from tests.dataverse_client import dataverse_api

PROJECT_SEED = {
    "tables": [{
        "logical_name": "new_project", "primary_name": "new_name", "change_tracking": False,
        "attributes": [
            {"name": "new_code", "type": "string", "max_length": 20},
            {"name": "new_budget", "type": "money"},
            {"name": "new_phase", "type": "picklist", "options": {1: "Planned", 2: "Active"}},
            {"name": "new_accountid", "type": "lookup", "targets": ["account"]},
        ],
        "keys": [{"name": "new_code_key", "attributes": ["new_code"]}],
    }],
    "rows": {"new_projects": [{"new_name": "Apollo", "new_code": "AP-1", "new_phase": 2}]},
}


async def test_entity_definitions_lists_tables_with_entity_sets(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.get("EntityDefinitions?$select=LogicalName,EntitySetName")
    sets = {d["LogicalName"]: d["EntitySetName"] for d in reply.json["value"]}
    assert sets["contact"] == "contacts" and sets["opportunity"] == "opportunities"
    assert {"account", "lead", "task", "incident"} <= set(sets)


async def test_one_definition_with_attributes_and_keys(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.get("EntityDefinitions(LogicalName='contact')?$expand=Attributes,Keys")
    body = reply.json
    assert body["PrimaryIdAttribute"] == "contactid"
    assert body["PrimaryNameAttribute"] == "fullname"
    assert body["ChangeTrackingEnabled"] is True
    types = {a["LogicalName"]: a["AttributeType"] for a in body["Attributes"]}
    assert types["parentcustomerid"] == "Lookup" and types["creditlimit"] == "Money"
    assert types["gendercode"] == "Picklist" and types["birthdate"] == "DateTime"
    lookup = next(a for a in body["Attributes"] if a["LogicalName"] == "parentcustomerid")
    assert lookup["Targets"] == ["account", "contact"]
    assert body["Keys"][0]["KeyAttributes"] == ["emailaddress1"]


async def test_unknown_entity_definition_is_404(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.get("EntityDefinitions(LogicalName='nosuch')")
    assert reply.status == 404


async def test_seeded_custom_table_is_queryable_keyed_and_described(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, PROJECT_SEED)
    async with dataverse_api(emulator) as api:
        rows = await api.get("new_projects?$select=new_name,new_phase",
                             headers={"Prefer": 'odata.include-annotations="*"'})
        by_key = await api.get("new_projects(new_code='AP-1')?$select=new_name")
        tracked = await api.get("EntityDefinitions?$select=LogicalName&$filter="
                                + quote("ChangeTrackingEnabled eq false"))
    assert rows.json["value"][0]["new_name"] == "Apollo"
    assert rows.json["value"][0]["new_phase@OData.Community.Display.V1.FormattedValue"] == "Active"
    assert by_key.json["new_name"] == "Apollo"
    assert [d["LogicalName"] for d in tracked.json["value"]] == ["new_project"]
