"""Who a request acts as: stamped rows, application users with security roles (opt-in),
Dataverse's privilege error, impersonation, and the SDK message catalogue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

from emulator import RunningEmulator
from emulator.dataverse import apply_seed
from emulator.identity.testing import add_user
from tests.dataverse_client import USER_OID, Api, mint_token

READER_APP = "77777777-7777-4777-8777-777777777777"
OTHER_APP = "88888888-8888-4888-8888-888888888888"
FORMATTED = {"Prefer": 'odata.include-annotations="*"'}
ROLES = {
    "security_roles": [{"name": "Lead reader", "privileges": {"lead": ["read"]}},
                       {"name": "Impersonator", "privileges": {"lead": "all"},
                        "misc": ["ActOnBehalfOfAnotherUser"]}],
    "application_users": [{"application_id": READER_APP, "roles": ["Lead reader"]}],
}


@asynccontextmanager
async def api_as(emulator: RunningEmulator, **claims: str) -> AsyncIterator[Api]:
    async with emulator.client_session() as http:
        yield Api(http, f"{emulator.base_url}/api/data/v9.2", mint_token(emulator, **claims))


def app_claims(app_id: str) -> dict[str, str]:
    return {"idtyp": "app", "appid": app_id, "oid": app_id.replace("7", "a").replace("8", "b")}


async def test_rows_record_who_created_changed_and_owns_them(emulator: RunningEmulator) -> None:
    async with api_as(emulator, name="Ada Lovelace") as api:
        me = (await api.get("WhoAmI")).json["UserId"]
        lead = await api.create("leads", {"lastname": "stamped"})
        row = (await api.get(f"leads({lead})?$select=_createdby_value,_modifiedby_value,"
                             "_ownerid_value,_createdonbehalfby_value", headers=FORMATTED)).json
    assert me == USER_OID
    assert row["_createdby_value"] == row["_modifiedby_value"] == row["_ownerid_value"] == me
    assert row["_createdby_value@OData.Community.Display.V1.FormattedValue"] == "Ada Lovelace"
    assert row["_createdonbehalfby_value"] is None


async def test_a_seeded_role_limits_an_application_user_to_its_privileges(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, ROLES)
    async with api_as(emulator, **app_claims(OTHER_APP)) as admin:
        lead = await admin.create("leads", {"lastname": "visible"})
    async with api_as(emulator, **app_claims(READER_APP)) as reader:
        read = await reader.get(f"leads({lead})?$select=lastname")
        created = await reader.post("leads", {"lastname": "refused"})
        other = await reader.get("contacts")
        me = (await reader.get("WhoAmI")).json["UserId"]
    assert read.status == 200 and read.json["lastname"] == "visible"
    assert (created.status, created.error_code) == (403, "0x80040220")
    message = created.json["error"]["message"]
    assert message.startswith(f"Principal user (Id={me}, type=8, roleCount=1")
    assert "is missing prvCreateLead privilege" in message and "for entity 'lead'" in message
    assert other.status == 403 and "prvReadContact" in other.json["error"]["message"]


async def test_application_users_and_their_roles_are_rows(emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, ROLES)
    async with api_as(emulator) as api:
        users = await api.get("systemusers?$select=fullname,applicationid&$filter="
                              + quote(f"applicationid eq {READER_APP}"))
        roles = await api.get("roles?$select=name")
    assert [u["applicationid"] for u in users.json["value"]] == [READER_APP]
    assert {"System Administrator", "Lead reader", "Impersonator"} <= {
        r["name"] for r in roles.json["value"]}


async def test_impersonation_acts_as_the_named_user_and_records_the_caller(
        emulator: RunningEmulator) -> None:
    person = await add_user(emulator, username="grace@emulator.test", password="pw",
                            display_name="Grace Hopper")
    async with api_as(emulator) as api:
        me = (await api.get("WhoAmI")).json["UserId"]
        as_grace = {"CallerObjectId": person["object_id"]}
        who = (await api.get("WhoAmI", headers=as_grace)).json["UserId"]
        lead = await api.create("leads", {"lastname": "on behalf"})  # as me
        reply = await api.post("leads", {"lastname": "by grace"}, headers=as_grace)
        grace_lead = reply.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
        by_id = await api.patch(f"leads({lead})", {"subject": "x"},
                                headers={"MSCRMCallerID": who, "If-Match": "*"})
        rows = {r["leadid"]: r for r in (await api.get(
            "leads?$select=_createdby_value,_createdonbehalfby_value,_modifiedby_value,"
            "_modifiedonbehalfby_value")).json["value"]}
    assert who == person["object_id"] != me
    assert (rows[grace_lead]["_createdby_value"], rows[grace_lead]["_createdonbehalfby_value"]) \
        == (who, me)
    assert by_id.status == 204
    assert (rows[lead]["_modifiedby_value"], rows[lead]["_modifiedonbehalfby_value"]) == (who, me)


async def test_impersonating_needs_the_privilege_and_applies_the_users_privileges(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, {**ROLES, "application_users": [
        {"application_id": READER_APP, "roles": ["Lead reader"]},
        {"application_id": OTHER_APP, "roles": ["Impersonator"]}]})
    async with api_as(emulator, **app_claims(READER_APP)) as reader:
        reader_id = (await reader.get("WhoAmI")).json["UserId"]
        refused = await reader.get("leads", headers={"MSCRMCallerID": reader_id})
        impersonating = await reader.get("WhoAmI", headers={"MSCRMCallerID": USER_OID})
    async with api_as(emulator, **app_claims(OTHER_APP)) as impersonator:
        as_reader = await impersonator.post("leads", {"lastname": "x"},
                                            headers={"MSCRMCallerID": reader_id})
        unknown = await impersonator.get("WhoAmI", headers={
            "MSCRMCallerID": "00000000-0000-4000-8000-00000000dead"})
    assert refused.status == 200  # acting as oneself needs no privilege
    assert impersonating.status == 403
    assert "prvActOnBehalfOfAnotherUser" in impersonating.json["error"]["message"]
    assert as_reader.status == 403 and "prvCreateLead" in as_reader.json["error"]["message"]
    assert unknown.status == 404


async def test_sdk_message_filters_say_which_tables_support_create_multiple(
        emulator: RunningEmulator) -> None:
    query = quote("sdkmessageid/name eq 'CreateMultiple' and primaryobjecttypecode eq 'account'")
    async with api_as(emulator) as api:
        filters = await api.get(f"sdkmessagefilters?$select=primaryobjecttypecode&$filter={query}")
        messages = await api.get("sdkmessages?$select=name&$filter="
                                 + quote("name eq 'UpsertMultiple'"))
    assert [f["primaryobjecttypecode"] for f in filters.json["value"]] == ["account"]
    assert [m["name"] for m in messages.json["value"]] == ["UpsertMultiple"]
