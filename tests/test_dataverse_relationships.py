"""Relationships through the Web API: N:N association, collection-valued navigation
properties (read, $expand, bind on create) and single-valued ones."""

from __future__ import annotations

from urllib.parse import quote

from emulator import RunningEmulator
from emulator.dataverse import apply_seed
from tests.dataverse_client import Api, dataverse_api


async def _lead(api: Api, name: str) -> str:
    return await api.create("leads", {"lastname": name})


async def _names(api: Api, path: str) -> list[str]:
    reply = await api.get(path)
    assert reply.status == 200, reply.text
    return sorted(r.get("lastname") or r.get("name") for r in reply.json["value"])


async def test_many_to_many_associate_read_both_ways_and_disassociate(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account = await api.create("accounts", {"name": "Contoso"})
        ann, bo = await _lead(api, "Ann"), await _lead(api, "Bo")
        for lead in (ann, bo):
            added = await api.post(f"accounts({account})/accountleads_association/$ref",
                                   {"@odata.id": f"{api.root}/leads({lead})"})
            assert added.status == 204, added.text
        again = await api.post(f"accounts({account})/accountleads_association/$ref",
                               {"@odata.id": f"leads({ann})"})
        both = await _names(api, f"accounts({account})/accountleads_association?$select=lastname")
        back = await _names(api, f"leads({ann})/accountleads_association?$select=name")
        by_id = await api.delete(f"accounts({account})/accountleads_association/$ref?$id="
                                 + quote(f"{api.root}/leads({ann})"))
        keyed = await api.delete(f"accounts({account})/accountleads_association({bo})/$ref")
        left = await _names(api, f"accounts({account})/accountleads_association")
    assert again.status == 412
    assert both == ["Ann", "Bo"] and back == ["Contoso"]
    assert (by_id.status, keyed.status, left) == (204, 204, [])


async def test_collection_valued_expand_with_nested_options(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account = await api.create("accounts", {"name": "Fabrikam"})
        for subject in ("call", "email", "visit"):
            await api.create("tasks", {"subject": subject, "regardingobjectid_account@odata.bind":
                                       f"/accounts({account})"})
        lead = await _lead(api, "Joined")
        await api.post(f"accounts({account})/accountleads_association/$ref",
                       {"@odata.id": f"leads({lead})"})
        reply = await api.get(
            f"accounts({account})?$select=name&$expand=Account_Tasks($select=subject;"
            f"$filter=subject ne 'email';$orderby=subject desc;$top=5),"
            "accountleads_association($select=lastname)")
        many = await api.get("accounts?$select=name&$expand=Account_Tasks($select=subject)")
    assert reply.status == 200, reply.text
    body = reply.json
    assert [t["subject"] for t in body["Account_Tasks"]] == ["visit", "call"]
    assert set(body["Account_Tasks"][0]) == {"@odata.etag", "subject", "activityid"}
    assert [r["lastname"] for r in body["accountleads_association"]] == ["Joined"]
    assert len(many.json["value"][0]["Account_Tasks"]) == 3


async def test_related_rows_page_like_any_collection(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account = await api.create("accounts", {"name": "Paged"})
        await api.control_insert("contact", [
            {"lastname": f"C{i}", "parentcustomerid_account@odata.bind": f"/accounts({account})"}
            for i in range(5)])
        await api.control_insert("contact", [{"lastname": "elsewhere"}])
        first = await api.get(f"accounts({account})/contact_customer_accounts?$select=lastname",
                              headers={"Prefer": "odata.maxpagesize=3"})
        rest = await api.get(first.json["@odata.nextLink"],
                             headers={"Prefer": "odata.maxpagesize=3"})
    names = [r["lastname"] for r in first.json["value"] + rest.json["value"]]
    assert sorted(names) == [f"C{i}" for i in range(5)]
    assert "@odata.nextLink" not in rest.json


async def test_collection_binds_on_create_associate_the_rows(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        task = await api.create("tasks", {"subject": "follow up"})
        lead = await _lead(api, "Bound")
        account = await api.create("accounts", {
            "name": "Binder", "Account_Tasks@odata.bind": [f"/tasks({task})"],
            "accountleads_association@odata.bind": [f"/leads({lead})"]})
        tasks = await api.get(f"accounts({account})/Account_Tasks?$select=subject")
        leads = await _names(api, f"accounts({account})/accountleads_association")
        missing = await api.post("accounts", {"name": "x", "Account_Tasks@odata.bind": [
            "/tasks(00000000-0000-4000-8000-000000000000)"]})
        names = await _names(api, "accounts?$select=name")
    assert [t["subject"] for t in tasks.json["value"]] == ["follow up"]
    assert leads == ["Bound"]
    assert missing.status == 404 and "x" not in names  # nothing written


async def test_single_valued_navigation_property_reads_the_row_it_points_at(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account = await api.create("accounts", {"name": "Parent"})
        contact = await api.create("contacts", {
            "lastname": "Child", "parentcustomerid_account@odata.bind": f"/accounts({account})"})
        alone = await api.create("contacts", {"lastname": "Alone"})
        parent = await api.get(f"contacts({contact})/parentcustomerid_account?$select=name")
        nothing = await api.get(f"contacts({alone})/parentcustomerid_account")
    assert parent.json["name"] == "Parent" and parent.json["accountid"] == account
    assert nothing.status == 204


async def test_seeded_many_to_many_relationship_is_described_and_usable(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, {
        "tables": [{"logical_name": "new_project"}],
        "relationships": [{"name": "new_project_contact", "entity1": "new_project",
                           "entity2": "contact"}]})
    async with dataverse_api(emulator) as api:
        project = await api.create("new_projects", {"new_name": "Apollo"})
        contact = await api.create("contacts", {"lastname": "Armstrong"})
        await api.post(f"new_projects({project})/new_project_contact/$ref",
                       {"@odata.id": f"contacts({contact})"})
        crew = await _names(api, f"new_projects({project})/new_project_contact")
        described = await api.get("EntityDefinitions(LogicalName='contact')/"
                                  "ManyToManyRelationships(SchemaName='new_project_contact')")
    assert crew == ["Armstrong"]
    assert described.json["IntersectEntityName"] == "new_project_contact"
    assert described.json["Entity1IntersectAttribute"] == "new_projectid"
