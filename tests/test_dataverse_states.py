"""statecode / statuscode: rows are created active with the default status, and stay agreeing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from emulator import RunningEmulator
from emulator.dataverse import apply_seed
from tests.d365_actions_support import run
from tests.d365_support import d365_client
from tests.dataverse_client import Api, dataverse_api

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
LEAD_TYPE = {"@odata.type": "Microsoft.Dynamics.CRM.lead"}


async def _states(api: Api, entity_set: str) -> dict[str, tuple[int, int]]:
    rows = (await api.get(f"{entity_set}?$select=lastname,statecode,statuscode")).json["value"]
    return {r["lastname"]: (r["statecode"], r["statuscode"]) for r in rows}


async def test_every_way_of_creating_a_row_makes_it_active_with_the_default_status(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, {"rows": {"leads": [{"lastname": "seeded"}]}})
    async with dataverse_api(emulator) as api:
        await api.create("leads", {"lastname": "posted"})
        await api.control_insert("lead", [{"lastname": "control"}])
        await api.post("leads/Microsoft.Dynamics.CRM.CreateMultiple",
                       {"Targets": [{**LEAD_TYPE, "lastname": "bulk"}]})
        await api.patch("leads(00000000-0000-4000-8000-0000000000aa)", {"lastname": "upserted"})
        states = await _states(api, "leads")
        task = await api.post("tasks", {"subject": "call"},
                              headers={"Prefer": "return=representation"})
    assert states == {name: (0, 1) for name in
                      ("seeded", "posted", "control", "bulk", "upserted")}
    assert (task.json["statecode"], task.json["statuscode"]) == (0, 2)  # Open, Not Started


async def test_statecode_filter_finds_open_rows_with_their_labels(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        await api.create("leads", {"lastname": "open"})
        await api.create("leads", {"lastname": "lost", "statecode": 2, "statuscode": 4})
        reply = await api.get("leads?$select=lastname&$filter=statecode eq 0",
                              headers={"Prefer": 'odata.include-annotations="*"'})
        got = (await api.get("leads?$select=lastname,statecode,statuscode&$filter="
                             "statecode eq 0",
                             headers={"Prefer": 'odata.include-annotations="*"'})).json
    assert [r["lastname"] for r in reply.json["value"]] == ["open"]
    row = got["value"][0]
    assert row["statecode@OData.Community.Display.V1.FormattedValue"] == "Open"
    assert row["statuscode@OData.Community.Display.V1.FormattedValue"] == "New"


async def test_changing_one_of_state_and_status_brings_the_other_along(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        lead = await api.create("leads", {"lastname": "moving"})
        await api.patch(f"leads({lead})", {"statuscode": 3}, headers={"If-Match": "*"})
        qualified = (await api.get(f"leads({lead})?$select=statecode,statuscode")).json
        await api.patch(f"leads({lead})", {"statecode": 2}, headers={"If-Match": "*"})
        disqualified = (await api.get(f"leads({lead})?$select=statecode,statuscode")).json
    assert (qualified["statecode"], qualified["statuscode"]) == (1, 3)
    assert (disqualified["statecode"], disqualified["statuscode"]) == (2, 4)


async def test_a_status_of_another_state_is_invalid_state_code_status_code(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        created = await api.post("leads", {"lastname": "x", "statecode": 0, "statuscode": 4})
        lead = await api.create("leads", {"lastname": "y"})
        updated = await api.patch(f"leads({lead})", {"statecode": 1, "statuscode": 1},
                                  headers={"If-Match": "*"})
        unchanged = (await api.get(f"leads({lead})?$select=statecode,statuscode")).json
    for reply in (created, updated):
        assert reply.status == 400
        assert reply.error_code == "0x80048408"
        assert "status code is invalid for a specified state code" in reply.json["error"]["message"]
    assert (unchanged["statecode"], unchanged["statuscode"]) == (0, 1)


async def test_metadata_types_state_and_status_with_each_status_naming_its_state(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        body = (await api.get("EntityDefinitions(LogicalName='opportunity')"
                              "?$expand=Attributes")).json
        base = "EntityDefinitions(LogicalName='opportunity')/Attributes"
        state = (await api.get(f"{base}(LogicalName='statecode')/Microsoft.Dynamics.CRM."
                               "StateAttributeMetadata?$expand=OptionSet")).json
        status = (await api.get(f"{base}/Microsoft.Dynamics.CRM.StatusAttributeMetadata"
                                "?$select=LogicalName&$expand=OptionSet")).json["value"][0]
    attrs = {a["LogicalName"]: a for a in body["Attributes"]}
    assert attrs["statecode"]["AttributeType"] == "State"
    assert attrs["statecode"]["AttributeTypeName"] == {"Value": "StateType"}
    assert attrs["statuscode"]["AttributeType"] == "Status"
    assert attrs["statuscode"]["AttributeTypeName"] == {"Value": "StatusType"}
    states = {o["Value"]: o["DefaultStatus"] for o in state["OptionSet"]["Options"]}
    statuses = {o["Value"]: o["State"] for o in status["OptionSet"]["Options"]}
    assert states == {0: 1, 1: 3, 2: 4}
    assert statuses == {1: 0, 2: 0, 3: 1, 4: 2, 5: 2}


def _recipe_step(name: str, step: int) -> dict[str, Any]:
    recipe = yaml.safe_load((RECIPES / name).read_text())
    params = dict(recipe["actions"][step])
    for envelope in ("id", "type", "connection"):
        params.pop(envelope, None)
    return params


async def test_open_leads_report_recipe_counts_the_open_leads(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        for name in ("a", "b", "c"):
            await api.create("leads", {"lastname": name})
        await api.create("leads", {"lastname": "won", "statuscode": 3})
    async with d365_client(emulator) as client:
        found = await run(client, "search_records", **_recipe_step("open-leads-report.yaml", 0))
    assert found["count"] == 3
    assert sorted(r["fullname"] for r in found["rows"]) == ["a", "b", "c"]
