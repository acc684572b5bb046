"""Single examples from Dataverse pages, each named in its test's docstring
(learn.microsoft.com/power-apps/developer/data-platform/…)."""

from __future__ import annotations

from urllib.parse import quote

from emulator import RunningEmulator
from tests.dataverse_client import dataverse_api


async def test_detect_duplicates_during_create(emulator: RunningEmulator) -> None:
    """webapi/manage-duplicate-detection-create-update: "Detect duplicates during Create
    operation using the Web API" — 500, 0x80040333, with innererror."""
    lead = {"firstname": "Monte", "lastname": "Orton", "emailaddress1": "monteorton@example.com"}
    async with dataverse_api(emulator) as api:
        await api.create("leads", lead)
        reply = await api.post("leads", lead, headers={
            "If-None-Match": "null", "MSCRM.SuppressDuplicateDetection": "false"})
    assert reply.status == 500
    error = reply.json["error"]
    assert error["code"] == "0x80040333"
    assert error["message"] == ("A record was not created or updated because a duplicate of "
                                "the current record already exists.")
    assert error["innererror"] == {"message": error["message"],
                                   "type": "Microsoft.Crm.CrmException"}


async def test_between_query_function_as_the_docs_write_it(emulator: RunningEmulator) -> None:
    """webapi/query/filter-rows: Dataverse query functions —
    ``Microsoft.Dynamics.CRM.Between(PropertyName='numberofemployees',PropertyValues=["5","2000"])``."""
    async with dataverse_api(emulator) as api:
        await api.control_insert("account", [{"name": n, "numberofemployees": e}
                                             for n, e in (("small", 3), ("mid", 50),
                                                          ("big", 5000))])
        reply = await api.get("accounts?$select=name&$filter=" + quote(
            "Microsoft.Dynamics.CRM.Between(PropertyName='numberofemployees',"
            'PropertyValues=["5","2000"])'))
    assert [a["name"] for a in reply.json["value"]] == ["mid"]


async def test_create_multiple_answers_the_ids(emulator: RunningEmulator) -> None:
    """bulk-operations: "CreateMultiple" with every target's @odata.type; the response is
    ``CreateMultipleResponse`` with ``Ids``."""
    async with dataverse_api(emulator) as api:
        reply = await api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": [
            {"@odata.type": "Microsoft.Dynamics.CRM.account", "name": n} for n in "ab"]})
    assert reply.json["@odata.context"].endswith(
        "#Microsoft.Dynamics.CRM.CreateMultipleResponse")
    assert len(reply.json["Ids"]) == 2


async def test_change_tracking_annotation_in_metadata(emulator: RunningEmulator) -> None:
    """use-change-tracking-synchronize-data-external-systems: ``$metadata?annotations=true``
    marks entity sets that support change tracking."""
    async with dataverse_api(emulator) as api:
        reply = await api.get("$metadata?annotations=true")
    accounts = reply.text.split('<EntitySet Name="accounts"', 1)[1].split("</EntitySet>", 1)[0]
    assert ('<Annotation Term="Org.OData.Capabilities.V1.ChangeTracking"><Record>'
            '<PropertyValue Property="Supported" Bool="true"/></Record></Annotation>') in accounts


async def test_associate_to_a_collection_with_ref(emulator: RunningEmulator) -> None:
    """webapi/associate-disassociate-entities-using-web-api: "Add a reference to a
    collection-valued navigation property" (204), then remove it with ``$id``."""
    async with dataverse_api(emulator) as api:
        account = await api.create("accounts", {"name": "a"})
        opportunity = await api.create("opportunities", {"name": "o"})
        added = await api.post(f"accounts({account})/opportunity_customer_accounts/$ref",
                               {"@odata.id": f"{api.root}/opportunities({opportunity})"})
        listed = await api.get(f"accounts({account})/opportunity_customer_accounts")
        removed = await api.delete(f"accounts({account})/opportunity_customer_accounts/$ref"
                                   f"?$id={api.root}/opportunities({opportunity})")
    assert (added.status, removed.status) == (204, 204)
    assert [o["opportunityid"] for o in listed.json["value"]] == [opportunity]
