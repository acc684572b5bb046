"""Create, retrieve, update, upsert, delete and associate over the real Web API."""

from __future__ import annotations

from emulator import RunningEmulator
from tests.dataverse_client import dataverse_api, new_guid


async def test_create_answers_204_with_entity_id_and_retrieve_returns_the_row(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.post("contacts", {"firstname": "Ada", "lastname": "Lovelace",
                                            "emailaddress1": "ada@example.com"})
        assert reply.status == 204
        entity_id = reply.headers["OData-EntityId"]
        assert entity_id.startswith(f"{emulator.base_url}/api/data/v9.2/contacts(")
        contact_id = entity_id.rsplit("(", 1)[1].rstrip(")")
        got = await api.get(f"contacts({contact_id})?$select=fullname,emailaddress1")
    assert got.status == 200
    body = got.json
    assert body["@odata.context"].endswith("/$metadata#contacts(fullname,emailaddress1)/$entity")
    assert body["fullname"] == "Ada Lovelace"
    assert body["contactid"] == contact_id
    assert body["@odata.etag"].startswith('W/"')
    assert got.headers["OData-Version"] == "4.0"
    assert got.headers["Content-Type"].startswith("application/json; odata.metadata=minimal")


async def test_create_with_return_representation_answers_201_honouring_select(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.post("accounts?$select=name,revenue", {"name": "Contoso",
                                                                 "revenue": 1500000.5},
                               headers={"Prefer": "return=representation"})
    assert reply.status == 201
    assert reply.headers["Preference-Applied"] == "return=representation"
    assert "OData-EntityId" not in reply.headers
    body = reply.json
    assert set(body) == {"@odata.context", "@odata.etag", "name", "revenue", "accountid"}
    assert body["revenue"] == 1500000.5
    assert reply.headers["ETag"] == body["@odata.etag"]


async def test_datetimes_are_whole_seconds_utc_and_money_is_a_number(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account_id = await api.create("accounts", {"name": "A", "revenue": 10})
        body = (await api.get(f"accounts({account_id})")).json
    assert len(body["createdon"]) == 20 and body["createdon"].endswith("Z")
    assert body["modifiedon"] == body["createdon"]
    assert body["revenue"] == 10.0
    assert body["creditonhold"] is None


async def test_patch_updates_and_bumps_the_etag(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account_id = await api.create("accounts", {"name": "Before"})
        before = (await api.get(f"accounts({account_id})")).json["@odata.etag"]
        reply = await api.patch(f"accounts({account_id})", {"name": "After"},
                                headers={"If-Match": "*", "Prefer": "return=representation"})
        assert reply.status == 200
        assert reply.json["name"] == "After"
        assert reply.json["@odata.etag"] != before


async def test_patch_without_if_match_creates_a_missing_row(emulator: RunningEmulator) -> None:
    new_id = new_guid()
    async with dataverse_api(emulator) as api:
        reply = await api.patch(f"accounts({new_id})", {"name": "Upserted"})
        assert reply.status == 204
        assert reply.headers["OData-EntityId"].endswith(f"accounts({new_id})")
        again = await api.patch(f"accounts({new_id})", {"name": "Updated"},
                                headers={"Prefer": "return=representation"})
        created = await api.patch(f"accounts({new_guid()})", {"name": "X"},
                                  headers={"Prefer": "return=representation"})
        got = await api.get(f"accounts({new_id})?$select=name")
    assert again.status == 200 and created.status == 201
    assert got.json["name"] == "Updated"


async def test_if_match_star_on_a_missing_row_is_404(emulator: RunningEmulator) -> None:
    missing = new_guid()
    async with dataverse_api(emulator) as api:
        reply = await api.patch(f"accounts({missing})", {"name": "x"}, headers={"If-Match": "*"})
    assert reply.status == 404
    assert reply.error_code == "0x80040217"
    assert reply.json["error"]["message"] == f"account With Id = {missing} Does Not Exist"


async def test_if_none_match_star_on_an_existing_row_is_412(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account_id = await api.create("accounts", {"name": "Exists"})
        reply = await api.patch(f"accounts({account_id})", {"name": "x"},
                                headers={"If-None-Match": "*"})
    assert reply.status == 412
    assert reply.json["error"]["message"] == "A record with matching key values already exists."


async def test_stale_etag_on_update_is_412(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account_id = await api.create("accounts", {"name": "v1"})
        etag = (await api.get(f"accounts({account_id})")).json["@odata.etag"]
        ok = await api.patch(f"accounts({account_id})", {"name": "v2"}, headers={"If-Match": etag})
        stale = await api.patch(f"accounts({account_id})", {"name": "v3"},
                                headers={"If-Match": etag})
    assert ok.status == 204
    assert stale.status == 412
    assert "RowVersion" in stale.json["error"]["message"]


async def test_conditional_get_with_current_etag_is_304(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account_id = await api.create("accounts", {"name": "cached"})
        etag = (await api.get(f"accounts({account_id})")).json["@odata.etag"]
        reply = await api.get(f"accounts({account_id})", headers={"If-None-Match": etag})
    assert reply.status == 304


async def test_delete_answers_204_then_404(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account_id = await api.create("accounts", {"name": "doomed"})
        first = await api.delete(f"accounts({account_id})")
        second = await api.delete(f"accounts({account_id})")
        got = await api.get(f"accounts({account_id})")
    assert first.status == 204
    assert second.status == 404 and got.status == 404
    assert got.error_code == "0x80040217"


async def test_put_and_delete_of_a_single_property(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account_id = await api.create("accounts", {"name": "n", "description": "old"})
        put = await api.put(f"accounts({account_id})/name", {"value": "renamed"})
        cleared = await api.delete(f"accounts({account_id})/description")
        name = await api.get(f"accounts({account_id})/name")
        body = (await api.get(f"accounts({account_id})?$select=name,description")).json
    assert put.status == 204 and cleared.status == 204
    assert name.json["value"] == "renamed"
    assert body["name"] == "renamed" and body["description"] is None


async def test_odata_bind_sets_a_lookup_in_both_url_forms(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account_id = await api.create("accounts", {"name": "Parent"})
        first = await api.create("contacts", {
            "lastname": "One", "parentcustomerid_account@odata.bind": f"/accounts({account_id})"})
        second = await api.create("contacts", {
            "lastname": "Two", "parentcustomerid_account@odata.bind": f"accounts({account_id})"})
        rows = (await api.get(f"contacts?$select=_parentcustomerid_value"
                              f"&$filter=_parentcustomerid_value eq {account_id}")).json["value"]
    assert {r["contactid"] for r in rows} == {first, second}
    assert all(r["_parentcustomerid_value"] == account_id for r in rows)


async def test_bind_to_a_missing_record_is_404(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.post("contacts", {
            "lastname": "x", "parentcustomerid_account@odata.bind": f"/accounts({new_guid()})"})
    assert reply.status == 404
    assert reply.error_code == "0x80040217"


async def test_ref_associates_and_disassociates_a_single_valued_lookup(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account_id = await api.create("accounts", {"name": "Customer"})
        opportunity_id = await api.create("opportunities", {"name": "Deal"})
        put = await api.put(f"opportunities({opportunity_id})/customerid_account/$ref",
                            {"@odata.id": f"accounts({account_id})"})
        linked = (await api.get(f"opportunities({opportunity_id})?$select=_customerid_value",
                                headers={"Prefer": 'odata.include-annotations="*"'})).json
        removed = await api.delete(f"opportunities({opportunity_id})/customerid_account/$ref")
        unlinked = (await api.get(f"opportunities({opportunity_id})")).json
    assert put.status == 204 and removed.status == 204
    assert linked["_customerid_value"] == account_id
    assert linked["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    assert linked["_customerid_value@OData.Community.Display.V1.FormattedValue"] == "Customer"
    assert unlinked["_customerid_value"] is None


async def test_ref_on_a_collection_navigation_adds_and_removes_members(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account_id = await api.create("accounts", {"name": "Parent"})
        contact_id = await api.create("contacts", {"lastname": "Child"})
        added = await api.post(f"accounts({account_id})/contact_customer_accounts/$ref",
                               {"@odata.id": f"{api.root}/contacts({contact_id})"})
        after_add = (await api.get(f"contacts({contact_id})")).json["_parentcustomerid_value"]
        removed = await api.delete(
            f"accounts({account_id})/contact_customer_accounts({contact_id})/$ref")
        after_remove = (await api.get(f"contacts({contact_id})")).json["_parentcustomerid_value"]
        unknown = await api.post(f"accounts({account_id})/new_unknown_nn/$ref",
                                 {"@odata.id": f"contacts({contact_id})"})
    assert added.status == 204 and removed.status == 204
    assert after_add == account_id and after_remove is None
    assert unknown.status == 400


async def test_alternate_key_retrieve_and_upsert(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        created = await api.patch("contacts(emailaddress1='a@b.c')", {"lastname": "Keyed"})
        got = await api.get("contacts(emailaddress1='a@b.c')?$select=lastname,emailaddress1")
        updated = await api.patch("contacts(emailaddress1='A@B.C')", {"lastname": "Again"},
                                  headers={"If-Match": "*"})
        rows = (await api.get("contacts?$select=lastname")).json["value"]
        duplicate = await api.post("contacts", {"lastname": "Dup", "emailaddress1": "a@b.c"})
        not_a_key = await api.get("contacts(lastname='Keyed')")
    assert created.status == 204
    assert created.headers["OData-EntityId"].endswith("contacts(emailaddress1='a@b.c')")
    assert got.status == 200 and got.json["lastname"] == "Keyed"
    assert updated.status == 204
    assert [r["lastname"] for r in rows] == ["Again"]
    assert duplicate.status == 412 and duplicate.error_code == "0x80060892"
    assert not_a_key.status == 400


async def test_expand_single_valued_lookup_with_nested_select(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        contact_id = await api.create("contacts", {"firstname": "Pat", "lastname": "Lee"})
        account_id = await api.create("accounts", {
            "name": "Fabrikam", "primarycontactid@odata.bind": f"/contacts({contact_id})"})
        one = (await api.get(f"accounts({account_id})?$select=name"
                             "&$expand=primarycontactid($select=fullname)")).json
        many = (await api.get("accounts?$select=name&$expand=primarycontactid($select=fullname)"
                              )).json
        collection = await api.get("accounts?$expand=contact_customer_accounts")
    assert one["primarycontactid"]["fullname"] == "Pat Lee"
    assert one["primarycontactid"]["contactid"] == contact_id
    assert "lastname" not in one["primarycontactid"]
    assert many["@odata.context"].endswith("#accounts(name,primarycontactid(fullname))")
    assert many["value"][0]["primarycontactid"]["fullname"] == "Pat Lee"
    assert collection.json["value"][0]["contact_customer_accounts"] == []  # see relationships


async def test_wrong_types_and_unknown_properties_are_400_not_500(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        wrong_type = await api.post("accounts", {"name": "x", "numberofemployees": "many"})
        unknown = await api.post("accounts", {"name": "x", "nosuchcolumn": 1})
        too_long = await api.post("tasks", {"subject": "s" * 201})
        bad_option = await api.post("accounts", {"name": "x", "industrycode": 999})
        bad_json = await api.call("POST", "accounts", headers={"Content-Type": "application/json"})
    assert wrong_type.status == 400 and wrong_type.error_code == "0x80048d19"
    assert unknown.status == 400 and "nosuchcolumn" in unknown.json["error"]["message"]
    assert too_long.status == 400 and too_long.error_code == "0x80044331"
    assert "exceeded the maximum allowed length of '200'" in too_long.json["error"]["message"]
    assert bad_option.status == 400
    assert bad_json.status in (204, 400)


async def test_deep_insert_is_refused_clearly_and_writes_nothing(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.post("accounts", {"name": "Deep", "primarycontactid": {
            "lastname": "Inline"}, "Account_Tasks": [{"subject": "inline"}]})
        accounts = (await api.get("accounts?$select=name")).json["value"]
    assert reply.status == 400
    assert "deep insert" in reply.json["error"]["message"]
    assert accounts == []
