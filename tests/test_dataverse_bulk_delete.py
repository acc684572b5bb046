"""BulkDelete: a system job that deletes what its queries match, and reports as Dataverse's."""

from __future__ import annotations

import asyncio
from typing import Any

from emulator import RunningEmulator
from tests.dataverse_client import Api, dataverse_api


def _query(entity: str, *conditions: dict[str, Any], operator: str = "And") -> dict[str, Any]:
    return {"EntityName": entity, "ColumnSet": {"AllColumns": False, "Columns": []},
            "Criteria": {"FilterOperator": operator, "Conditions": list(conditions)}}


def _condition(name: str, operator: str, *values: Any) -> dict[str, Any]:
    return {"AttributeName": name, "Operator": operator,
            "Values": [{"Value": v, "Type": "System.String"} for v in values]}


async def _job(api: Api, job_id: str) -> dict[str, Any]:
    for _ in range(100):
        job = (await api.get(f"asyncoperations({job_id})?$select=name,operationtype,statecode,"
                             "statuscode,message")).json
        if job["statecode"] == 3:
            return job
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} did not complete: {job}")


async def test_bulk_delete_deletes_matching_rows_as_a_completed_system_job(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        await api.control_insert("account", [{"name": f"test {i}"} for i in range(5)]
                                 + [{"name": "keep"}, {"name": "also keep", "revenue": 10}])
        await api.control_insert("lead", [{"lastname": "gone"}, {"lastname": "stays"}])
        reply = await api.post("BulkDelete", {
            "QuerySet": [_query("account", _condition("name", "Like", "test%")),
                         _query("lead", _condition("lastname", "In", "gone", "absent"))],
            "JobName": "Clean up", "SendEmailNotification": False, "ToRecipients": [],
            "CCRecipients": [], "RecurrencePattern": "", "StartDateTime": "2024-01-01T00:00:00Z"})
        assert reply.status == 200, reply.text
        job = await _job(api, reply.json["JobId"])
        left = sorted(r["name"] for r in (await api.get("accounts?$select=name")).json["value"])
        leads = [r["lastname"] for r in (await api.get("leads?$select=lastname")).json["value"]]
        report = (await api.get("bulkdeleteoperations?$select=successcount,name")).json["value"]
    assert reply.json["@odata.context"].endswith("#Microsoft.Dynamics.CRM.BulkDeleteResponse")
    assert (job["name"], job["operationtype"], job["statuscode"]) == ("Clean up", 13, 30)
    assert left == ["also keep", "keep"] and leads == ["stays"]
    assert report == [{"@odata.etag": report[0]["@odata.etag"], "successcount": 6,
                       "name": "Clean up", "bulkdeleteoperationid":
                       report[0]["bulkdeleteoperationid"]}]


async def test_bulk_delete_refuses_what_it_cannot_do_faithfully(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        recurring = await api.post("BulkDelete", {
            "QuerySet": [_query("account")], "JobName": "x", "SendEmailNotification": False,
            "ToRecipients": [], "CCRecipients": [], "RecurrencePattern": "FREQ=DAILY;INTERVAL=1",
            "StartDateTime": "2024-01-01T00:00:00Z"})
        operator = await api.post("BulkDelete", {
            "QuerySet": [_query("account", _condition("name", "BeginsWithSoundex", "x"))],
            "JobName": "x", "RecurrencePattern": ""})
        unknown = await api.post("BulkDelete", {"QuerySet": [_query("nosuch")], "JobName": "x"})
    assert recurring.status == 400 and "RecurrencePattern" in recurring.json["error"]["message"]
    assert operator.status == 400 and "BeginsWithSoundex" in operator.json["error"]["message"]
    assert unknown.status == 404
