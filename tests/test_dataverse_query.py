"""Query options, annotations, errors and versions on the emulated Web API."""

from __future__ import annotations

from urllib.parse import quote

from emulator import RunningEmulator
from tests.dataverse_client import Api, dataverse_api


async def _people(api: Api) -> dict[str, str]:
    ids = {}
    for first, last, email in [("Sean", "O'Bryan", "sean@x.test"), ("Ann", "Smith", "ann@x.test"),
                               ("Bob", "smith", "bob@y.test")]:
        ids[first] = await api.create("contacts", {"firstname": first, "lastname": last,
                                                   "emailaddress1": email})
    return ids


async def test_filter_with_doubled_quote_matches_only_that_value(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        ids = await _people(api)
        exact = await api.get("contacts?$filter=" + quote("lastname eq 'O''Bryan'"))
        bent = await api.get("contacts?$filter=" + quote("lastname eq 'x'' or ''1'' eq ''1'"))
        injected = await api.get("contacts?$filter=" + quote("lastname eq 'O'' or 1=1 --'"))
    assert [r["contactid"] for r in exact.json["value"]] == [ids["Sean"]]
    assert bent.status == 200 and bent.json["value"] == []
    assert injected.status == 200 and injected.json["value"] == []


async def test_string_comparison_and_functions_are_case_insensitive(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        ids = await _people(api)
        eq = await api.get("contacts?$filter=" + quote("lastname eq 'SMITH'"))
        starts = await api.get("contacts?$filter=" + quote("startswith(emailaddress1,'ANN')"))
        contains = await api.get("contacts?$filter=" + quote("contains(lastname,'%')"))
    assert {r["contactid"] for r in eq.json["value"]} == {ids["Ann"], ids["Bob"]}
    assert [r["contactid"] for r in starts.json["value"]] == [ids["Ann"]]
    assert contains.json["value"] == []


async def test_orderby_top_and_count(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        await _people(api)
        reply = await api.get("contacts?$select=firstname&$orderby=firstname desc&$top=2"
                              "&$count=true")
        count = await api.get("contacts/$count")
    body = reply.json
    assert [r["firstname"] for r in body["value"]] == ["Sean", "Bob"]
    assert body["@odata.count"] == 3
    assert "@odata.nextLink" not in body
    assert count.status == 200 and count.text == "3"
    assert count.headers["Content-Type"].startswith("text/plain")


async def test_unquoted_datetime_and_guid_literals(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        ids = await _people(api)
        later = await api.get("contacts?$filter=" + quote("modifiedon gt 2100-01-01T00:00:00Z"))
        earlier = await api.get("contacts?$filter=" + quote("modifiedon ge 2000-01-01T00:00:00Z"))
        by_id = await api.get("contacts?$filter=" + quote(f"contactid eq {ids['Ann'].upper()}"))
    assert later.json["value"] == []
    assert len(earlier.json["value"]) == 3
    assert [r["contactid"] for r in by_id.json["value"]] == [ids["Ann"]]


async def test_filter_on_related_value_and_lookup(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        contact_id = await api.create("contacts", {"firstname": "Pat", "lastname": "Lee"})
        account_id = await api.create("accounts", {
            "name": "Fabrikam", "primarycontactid@odata.bind": f"/contacts({contact_id})"})
        await api.create("accounts", {"name": "Other"})
        related = await api.get(
            "accounts?$filter=" + quote("primarycontactid/fullname eq 'pat lee'"))
        lookup = await api.get(
            "accounts?$filter=" + quote(f"_primarycontactid_value eq {contact_id}"))
    assert [r["accountid"] for r in related.json["value"]] == [account_id]
    assert [r["accountid"] for r in lookup.json["value"]] == [account_id]


async def test_formatted_values_for_option_sets_money_and_lookups(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account_id = await api.create("accounts", {"name": "Parent", "revenue": 1234567.891,
                                                   "industrycode": 7, "creditonhold": True,
                                                   "statecode": 0})
        await api.create("contacts", {
            "lastname": "Kid", "parentcustomerid_account@odata.bind": f"/accounts({account_id})"})
        annotated = await api.get("accounts?$select=name,revenue,industrycode,creditonhold",
                                  headers={"Prefer": 'odata.include-annotations="*"'})
        contact = await api.get("contacts?$select=_parentcustomerid_value", headers={
            "Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue,'
                      'Microsoft.Dynamics.CRM.lookuplogicalname"'})
        plain = await api.get("accounts?$select=industrycode")
    row = annotated.json["value"][0]
    formatted = "@OData.Community.Display.V1.FormattedValue"
    assert row["industrycode" + formatted] == "Consulting"
    assert row["revenue" + formatted] == "$1,234,567.89"
    assert row["creditonhold" + formatted] == "Yes"
    assert row["revenue"] == 1234567.891
    assert annotated.headers["Preference-Applied"] == 'odata.include-annotations="*"'
    kid = contact.json["value"][0]
    assert kid["_parentcustomerid_value" + formatted] == "Parent"
    assert kid["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    assert "_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty" not in kid
    assert not any("@" in k for k in plain.json["value"][0] if k != "@odata.etag")


async def test_bad_filter_is_400_with_the_uri_parser_code(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        syntax = await api.get("contacts?$filter=" + quote("lastname eq"))
        unknown = await api.get("contacts?$filter=" + quote("nosuch eq 1"))
        select = await api.get("contacts?$select=nosuch")
        function = await api.get("contacts?$filter=" + quote("geo.distance(a,b) eq 1"))
    for reply in (syntax, unknown, select, function):
        assert reply.status == 400, reply.text
        assert reply.error_code == "0x80060888"
    assert unknown.json["error"]["message"] == (
        "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.contact'.")


async def test_skip_is_rejected(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.get("contacts?$skip=10")
    assert reply.status == 400
    assert reply.error_code == "0x80060888"
    assert "$skip" in reply.json["error"]["message"]


async def test_unknown_entity_set_is_404_resource_not_found(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.get("nosuchthings")
    assert reply.status == 404
    assert reply.json == {"error": {"code": "0x80060888", "message":
                                    "Resource not found for the segment 'nosuchthings'."}}


async def test_v82_and_v92_serve_the_same_data_and_other_versions_404(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator, "v8.2") as old, dataverse_api(emulator, "v9.2") as new:
        account_id = await old.create("accounts", {"name": "Shared"})
        via_old = await old.get(f"accounts({account_id})")
        via_new = await new.get(f"accounts({account_id})")
        unknown = await new.get(f"{emulator.base_url}/api/data/v7.0/accounts", raw_url=True)
    assert via_old.json["name"] == via_new.json["name"] == "Shared"
    assert "/api/data/v8.2/$metadata#accounts/$entity" in via_old.json["@odata.context"]
    assert "/api/data/v9.2/$metadata#accounts/$entity" in via_new.json["@odata.context"]
    assert unknown.status == 404


async def test_who_am_i_with_and_without_parentheses(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        plain = await api.get("WhoAmI")
        called = await api.get("WhoAmI()")
    assert plain.status == called.status == 200
    assert plain.json["UserId"] == "5a4f2c1e-0000-4000-8000-00000000abcd"
    assert plain.json == called.json
    assert plain.json["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse")
    assert {"BusinessUnitId", "OrganizationId"} <= set(plain.json)


async def test_unknown_query_parameters_are_refused_not_ignored(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        await api.create("accounts", {"name": "secret"})
        sql = await api.get("accounts?sql=" + quote("SELECT name FROM account"))
        typo = await api.get("accounts?$select=name&select=accountid")
        one = await api.get("EntityDefinitions?foo=1")
        aliased = await api.get("RetrieveTotalRecordCount(EntityNames=@p1)?@p1="
                                + quote('["account"]'))
    for reply, name in ((sql, "sql"), (typo, "select"), (one, "foo")):
        assert reply.status == 400, reply.text
        assert reply.json["error"] == {"code": "0x80060888",
                                       "message": f"The query parameter {name} is not supported"}
    assert aliased.status == 200
