"""impersonate: on the Dataverse record actions, batch and associate, against the emulator's
security roles over real HTTPS: work done as another user, and each refusal said plainly."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.dynamics365 import DataverseClient
from connectors.errors import FatalError
from emulator import RunningEmulator
from emulator.dataverse import apply_seed
from emulator.identity.testing import add_user
from tests.d365_actions_support import act, step
from tests.d365_support import FAST_RETRY, d365_client, request_log

WRITER_APP = "77777777-7777-4777-8777-777777777777"  # writes leads, may not impersonate
DELEGATE_APP = "88888888-8888-4888-8888-888888888888"  # writes leads, may impersonate
READER_APP = "99999999-9999-4999-8999-999999999999"  # reads leads only
ROLES = {
    "security_roles": [
        {"name": "Lead writer", "privileges": {"lead": "all", "contact": "all"}},
        {"name": "Lead reader", "privileges": {"lead": ["read"]}},
        {"name": "Delegate writer", "privileges": {"lead": "all"},
         "misc": ["ActOnBehalfOfAnotherUser"]}],
    "application_users": [{"application_id": WRITER_APP, "roles": ["Lead writer"]},
                          {"application_id": DELEGATE_APP, "roles": ["Delegate writer"]},
                          {"application_id": READER_APP, "roles": ["Lead reader"]}],
}


class AppTokens:
    """Tokens of an app registration (an application user in Dataverse)."""

    def __init__(self, emulator: RunningEmulator, app_id: str) -> None:
        self.emulator, self.app_id = emulator, app_id

    async def access_token(self, *, force_refresh: bool = False) -> str:
        state = self.emulator.state
        now = int(state.clock.time())
        return state.signer.sign({"aud": self.emulator.base_url, "iat": now, "exp": now + 3600,
                                  "idtyp": "app", "appid": self.app_id,
                                  "oid": self.app_id.replace("-4", "-a", 1)})


def app_client(emulator: RunningEmulator, app_id: str) -> Any:
    return d365_client(emulator, AppTokens(emulator, app_id), retry=FAST_RETRY)  # type: ignore[arg-type]


async def user_of(client: DataverseClient) -> str:
    return str((await client.get_json("WhoAmI"))["UserId"])


async def test_record_actions_batch_and_associate_act_as_the_named_user(
        emulator: RunningEmulator) -> None:
    grace = await add_user(emulator, username="grace@emulator.test", password="pw",
                           display_name="Grace Hopper")
    as_grace = {"object_id": grace["object_id"]}
    async with d365_client(emulator) as client:
        me = await user_of(client)
        account = await act(step(client, "setup"), "create_record", table="accounts",
                            fields={"name": "Contoso"})
        lead = await act(step(client), "create_record", table="leads", impersonate=as_grace,
                         fields={"lastname": "Ng"})
        grace_id = (await client.get_json(f"leads({lead['id']})", {
            "$select": "_createdby_value"}))["_createdby_value"]
        by_id = {"systemuser_id": grace_id}
        await act(step(client, "actions[1]"), "update_record", table="leads",
                  record_id=lead["id"], fields={"subject": "hot"}, impersonate=by_id)
        got = await act(step(client, "actions[2]"), "get_record", table="leads",
                        record_id=lead["id"], impersonate=by_id,
                        select=["createdby", "createdonbehalfby", "modifiedby",
                                "modifiedonbehalfby"])
        batch = await act(step(client, "actions[3]"), "batch", table="contacts",
                          operation="create", impersonate=as_grace,
                          rows=[{"lastname": "A"}, {"lastname": "B"}])
        contact = batch["results"][0]["id"]
        await act(step(client, "actions[4]"), "associate", table="contacts",
                  record_id=contact, relationship="parentcustomerid_account",
                  related={"table": "accounts", "id": account["id"]}, impersonate=by_id)
        contacts = (await client.get_json("contacts", {
            "$select": "_createdby_value,_createdonbehalfby_value,_modifiedby_value,"
                       "_parentcustomerid_value"}))["value"]
    record = got["record"]
    assert record["_createdby_value"] == record["_modifiedby_value"] == grace_id != me
    assert record["_createdonbehalfby_value"] == record["_modifiedonbehalfby_value"] == me
    assert record["_createdby_value@label"] == "Grace Hopper"
    assert batch["succeeded"] == 2
    assert {(c["_createdby_value"], c["_createdonbehalfby_value"]) for c in contacts} == {
        (grace_id, me)}
    related = next(c for c in contacts if c["contactid"] == contact)
    assert related["_parentcustomerid_value"] == account["id"]
    assert related["_modifiedby_value"] == grace_id


async def test_a_connection_that_may_not_impersonate_is_told_which_privilege_it_lacks(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, ROLES)
    async with app_client(emulator, READER_APP) as reader:
        reader_id = await user_of(reader)
    as_reader = {"systemuser_id": reader_id}
    async with app_client(emulator, WRITER_APP) as writer:
        errors = []
        for action, params in [
                ("create_record", {"table": "leads", "fields": {"lastname": "x"}}),
                ("batch", {"table": "leads", "operation": "create",
                           "rows": [{"lastname": "y"}, {"lastname": "z"}]}),
                ("get_record", {"table": "leads", "record_id": reader_id})]:
            with pytest.raises(FatalError) as caught:
                await act(step(writer), action, impersonate=as_reader, **params)
            errors.append(caught.value)
        own = await act(step(writer, "actions[1]"), "create_record", table="leads",
                        fields={"lastname": "as itself"})
    for error, action in zip(errors, ("create_record", "batch", "get_record"), strict=True):
        assert error.message.startswith(
            f"{action}: this connection's user may not act as the user with systemuserid "
            f"{reader_id}: it lacks the prvActOnBehalfOfAnotherUser privilege")
        assert "Delegate" in error.message and error.code == "0x80040220"
    assert own["id"]
    batch_posts = [e for e in await request_log(emulator) if "$batch" in e["path"]]
    assert batch_posts == []  # refused as a whole: not tried again row by row


async def test_the_impersonated_users_own_privileges_apply_and_an_unknown_user_is_named(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, ROLES)
    async with app_client(emulator, READER_APP) as reader:
        reader_id = await user_of(reader)
    nobody = "00000000-0000-4000-8000-00000000dead"
    async with app_client(emulator, DELEGATE_APP) as delegate:
        with pytest.raises(FatalError) as lacking:
            await act(step(delegate), "create_record", table="leads",
                      fields={"lastname": "x"}, impersonate={"systemuser_id": reader_id})
        with pytest.raises(FatalError) as unknown:
            await act(step(delegate), "create_record", table="leads",
                      fields={"lastname": "x"}, impersonate={"object_id": nobody})
        made = await act(step(delegate, "actions[1]"), "create_record", table="leads",
                         fields={"lastname": "mine"})
        with pytest.raises(FatalError) as unknown_id:
            await act(step(delegate), "delete_record", table="leads", record_id=made["id"],
                      impersonate={"systemuser_id": nobody})
        still = await delegate.get_json(f"leads({made['id']})", {"$select": "lastname"})
    assert lacking.value.message.startswith(
        f"create_record: the user with systemuserid {reader_id}, whom this step acts as, "
        "lacks a privilege for it")
    assert "prvCreateLead" in lacking.value.message
    assert unknown.value.message.startswith(
        f"create_record: cannot act as the user with Entra object id {nobody}: Dataverse has "
        "no such user")
    assert unknown_id.value.message.startswith(
        f"delete_record: cannot act as the user with systemuserid {nobody}")
    assert still["lastname"] == "mine"


async def test_impersonate_takes_exactly_one_id_and_a_guid_when_it_runs(
        emulator: RunningEmulator) -> None:
    from connectors.catalog import default_registry
    spec = default_registry().actions["dynamics365.update_record"]
    base = {"table": "leads", "record_id": "00000000-0000-4000-8000-000000000001",
            "fields": {"subject": "x"}}
    for impersonate in ({}, {"object_id": "a", "systemuser_id": "b"}):
        with pytest.raises(ValueError, match="exactly one of object_id and systemuser_id"):
            spec.params.model_validate({**base, "impersonate": impersonate})
    async with d365_client(emulator) as client:
        with pytest.raises(FatalError, match=r"impersonate\.object_id: 'not-a-guid' is not a GUID"):
            await act(step(client), "update_record", **base,
                      impersonate={"object_id": "not-a-guid"})
    assert [e for e in await request_log(emulator) if e["method"] == "PATCH"] == []
