"""CreateMultiple, UpdateMultiple and UpsertMultiple over the real Web API."""

from __future__ import annotations

from typing import Any

from emulator import RunningEmulator
from tests.dataverse_client import Api, dataverse_api, new_guid

ACCOUNT = "Microsoft.Dynamics.CRM.account"
CREATE = "accounts/Microsoft.Dynamics.CRM.CreateMultiple"
UPDATE = "accounts/Microsoft.Dynamics.CRM.UpdateMultiple"
UPSERT = "accounts/Microsoft.Dynamics.CRM.UpsertMultiple"


def target(**values: Any) -> dict[str, Any]:
    return {"@odata.type": ACCOUNT, **values}


async def accounts(api: Api) -> dict[str, dict[str, Any]]:
    reply = await api.get("accounts?$select=name,accountnumber,modifiedon,createdon")
    assert reply.status == 200, reply.text
    return {row["accountid"]: row for row in reply.json["value"]}


async def test_create_multiple_of_1000_rows_answers_ids_and_rows_share_one_second(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.post(CREATE, {"Targets": [target(name=f"Bulk {i:04}")
                                                    for i in range(1000)]})
        stored = await accounts(api)
    assert reply.status == 200, reply.text
    body = reply.json
    assert body["@odata.context"] == (
        f"{emulator.base_url}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse")
    assert len(body["Ids"]) == 1000 and set(body["Ids"]) == set(stored)
    assert stored[body["Ids"][999]]["name"] == "Bulk 0999"
    assert len({row["modifiedon"] for row in stored.values()}) == 1
    assert len({row["createdon"] for row in stored.values()}) == 1


async def test_bulk_target_without_odata_type_is_400_and_writes_nothing(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.post(CREATE, {"Targets": [target(name="ok"), {"name": "untyped"}]})
        wrong = await api.post(CREATE, {"Targets": [
            {"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": "x"}]})
        stored = await accounts(api)
    assert reply.status == 400 and wrong.status == 400
    assert "@odata.type" in reply.json["error"]["message"]
    assert stored == {}


async def test_create_multiple_with_one_bad_row_fails_with_its_error_and_writes_nothing(
        emulator: RunningEmulator) -> None:
    targets = [target(name=f"Row {i}") for i in range(300)]
    targets[250] = target(name="x" * 161)
    async with dataverse_api(emulator) as api:
        too_long = await api.post(CREATE, {"Targets": targets})
        duplicate_key = await api.post(CREATE, {"Targets": [
            target(name="a", accountnumber="SAME"), target(name="b", accountnumber="SAME")]})
        stored = await accounts(api)
    assert too_long.status == 400
    assert too_long.error_code == "0x80044331"
    assert duplicate_key.status == 412
    assert stored == {}


async def test_update_multiple_changes_every_row_in_one_second_and_answers_204(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        ids = (await api.post(CREATE, {"Targets": [target(name=f"Old {i}")
                                                   for i in range(200)]})).json["Ids"]
        emulator.state.clock.advance(5)
        reply = await api.post(UPDATE, {"Targets": [target(accountid=i, name=f"New {n}")
                                                    for n, i in enumerate(ids)]})
        stored = await accounts(api)
    assert reply.status == 204, reply.text
    assert reply.text == ""
    assert stored[ids[7]]["name"] == "New 7"
    assert len({row["modifiedon"] for row in stored.values()}) == 1
    assert all(row["modifiedon"] != row["createdon"] for row in stored.values())


async def test_update_multiple_with_a_missing_row_or_id_changes_nothing(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        ids = (await api.post(CREATE, {"Targets": [target(name="Keep")] * 3})).json["Ids"]
        missing = await api.post(UPDATE, {"Targets": [
            target(accountid=ids[0], name="Changed"), target(accountid=new_guid(), name="?")]})
        no_id = await api.post(UPDATE, {"Targets": [
            target(accountid=ids[1], name="Changed"), target(name="no id")]})
        stored = await accounts(api)
    assert missing.status == 404
    assert missing.error_code == "0x80040217"
    assert no_id.status == 400
    assert {row["name"] for row in stored.values()} == {"Keep"}


async def test_upsert_multiple_creates_and_updates_by_alternate_key_and_id_answering_204(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        existing = await api.create("accounts", {"name": "By key", "accountnumber": "K-1"})
        by_id = await api.create("accounts", {"name": "By id"})
        fresh_id = new_guid()
        reply = await api.post(UPSERT, {"Targets": [
            target(name="By key, updated", **{"@odata.id": "accounts(accountnumber='K-1')"}),
            target(name="New by key", **{"@odata.id": "accounts(accountnumber='K-2')"}),
            target(accountid=by_id, name="By id, updated"),
            target(accountid=fresh_id, name="New by id"),
            target(name="No key at all"),
        ]})
        stored = await accounts(api)
    assert reply.status == 204, reply.text
    names = {row["name"]: row for row in stored.values()}
    assert set(names) == {"By key, updated", "New by key", "By id, updated", "New by id",
                          "No key at all"}
    assert names["By key, updated"]["accountid"] == existing
    assert names["New by key"]["accountnumber"] == "K-2"
    assert names["New by id"]["accountid"] == fresh_id


async def test_upsert_multiple_with_one_bad_row_writes_nothing(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.post(UPSERT, {"Targets": [
            target(name="Fine", **{"@odata.id": "accounts(accountnumber='A')"}),
            target(name="Bad", numberofemployees="many")]})
        stored = await accounts(api)
    assert reply.status == 400
    assert stored == {}
