"""execute_action, execute_function (bound and unbound) and request, against the emulator."""

from __future__ import annotations

import pytest

from connectors.errors import FatalError
from emulator import RunningEmulator
from tests.d365_actions_support import run
from tests.d365_support import USER_OID, d365_client, request_log


async def test_unbound_action_win_opportunity_sets_won(emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        opp = await run(client, "create_record", table="opportunities", fields={"name": "Big"})
        won = await run(client, "execute_action", name="WinOpportunity", parameters={
            "Status": 3, "OpportunityClose": {
                "subject": "Won it", "opportunityid@odata.bind": f"/opportunities({opp['id']})"}})
        got = await run(client, "get_record", table="opportunities", record_id=opp["id"],
                        select=["statecode", "statuscode"])
    assert won == {"status": 204, "result": None}
    assert got["record"]["statecode@label"] == "Won" and got["record"]["statuscode"] == 3


async def test_action_bound_to_a_record_by_alternate_key_returns_its_result(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        case = await run(client, "create_record", table="incidents",
                         fields={"title": "Down", "ticketnumber": "CAS-'1", "prioritycode": 3})
        result = await run(client, "execute_action", name="Microsoft.Dynamics.CRM.new_Escalate",
                           table="incidents", key={"ticketnumber": "CAS-'1"},
                           parameters={"Reason": "VIP"})
        got = await run(client, "get_record", table="incidents", record_id=case["id"],
                        select=["prioritycode", "description"])
    assert result == {"status": 200, "result": {"PreviousPriority": 3, "Escalated": True}}
    assert got["record"]["prioritycode@label"] == "High"
    assert got["record"]["description"] == "Escalated: VIP"


async def test_unbound_functions_with_array_entity_reference_and_string_parameters(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        account = await run(client, "create_record", table="accounts",
                            fields={"name": "A", "revenue": 99.5})
        await run(client, "create_record", table="contacts", fields={"lastname": "x"})
        counts = await run(client, "execute_function", name="RetrieveTotalRecordCount",
                           parameters={"EntityNames": ["account", "contact", "lead"]})
        rollup = await run(client, "execute_function", name="CalculateRollupField",
                           parameters={"Target": {"table": "accounts", "id": account["id"]},
                                       "FieldName": "revenue"})
        who = await run(client, "execute_function", name="WhoAmI")
        with pytest.raises(FatalError) as caught:
            await run(client, "execute_function", name="CalculateRollupField", parameters={
                "Target": {"table": "accounts", "id": account["id"]},
                "FieldName": "x') or ('1'='1&$top=1"})
    collection = counts["result"]["EntityRecordCountCollection"]
    assert collection["Keys"] == ["account", "contact", "lead"]
    assert collection["Values"] == [1, 1, 0]
    assert rollup["result"]["revenue"] == 99.5
    assert who["result"]["UserId"] == USER_OID
    assert "'x') or ('1'='1&$top=1'" in caught.value.message  # arrived whole, as one value
    log = await request_log(emulator, "/api/data/v9.2/CalculateRollupField*")
    assert "@p2=" in log[0]["path"] + log[0]["query"] or "%40p2" in log[0]["query"]


async def test_function_bound_to_a_record(emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        case = await run(client, "create_record", table="incidents", fields={"title": "T"})
        for minutes in (30, 45):
            await run(client, "create_record", table="tasks", fields={
                "subject": "work", "actualdurationminutes": minutes,
                "regardingobjectid": {"table": "incidents", "id": case["id"]}})
        total = await run(client, "execute_function", name="CalculateTotalTimeIncident",
                          table="incidents", record_id=case["id"])
    assert total["result"] == {"TotalTime": 75}


async def test_raw_request_returns_status_headers_json_and_allowed_errors(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        await run(client, "create_record", table="accounts", fields={"name": "A&B"})
        listed = await run(client, "request", path="accounts",
                           query={"$select": "name", "$filter": "name eq 'A&B'"})
        missing = await run(client, "request", method="DELETE",
                            path="accounts(00000000-0000-4000-8000-000000000001)",
                            allow_status=[404])
        with pytest.raises(ValueError, match="relative"):
            await run(client, "request", path="https://elsewhere.test/api")
    assert listed["status"] == 200 and listed["json"]["value"][0]["name"] == "A&B"
    assert listed["headers"]["OData-Version"] == "4.0"
    assert missing["status"] == 404
    assert missing["json"]["error"]["code"] == "0x80040217"
