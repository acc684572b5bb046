"""if_match (optimistic concurrency) and suppress_duplicate_detection on the Dataverse
record actions, against the emulator over real HTTPS, including steps that run twice."""

from __future__ import annotations

import pytest

from connectors.errors import FatalError
from emulator import RunningEmulator
from tests.d365_actions_support import act, step
from tests.d365_support import d365_client, fault, request_log

AFTER_COMMIT = {"kind": "status", "status": 503, "after_commit": True, "count": 1}


async def test_if_match_updates_the_version_read_and_refuses_a_changed_record(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        made = await act(step(client, "setup"), "create_record", table="accounts",
                         fields={"name": "v1"})
        read = await act(step(client, "read"), "get_record", table="accounts",
                         record_id=made["id"])
        etag = read["record"]["@odata.etag"]
        updated = await act(step(client), "update_record", table="accounts",
                            record_id=made["id"], fields={"name": "v2"}, if_match=etag,
                            return_record=True)
        with pytest.raises(FatalError) as stale:
            await act(step(client, "actions[1]"), "update_record", table="accounts",
                      record_id=made["id"], fields={"name": "v3"}, if_match=etag)
        with pytest.raises(FatalError) as stale_delete:
            await act(step(client, "actions[2]"), "delete_record", table="accounts",
                      record_id=made["id"], if_match=etag)
        by_version = await act(step(client, "actions[3]"), "upsert_record", table="accounts",
                               record_id=made["id"], fields={"name": "v4"},
                               if_match=updated["record"]["versionnumber"])
        final = await client.get_json(f"accounts({made['id']})", {"$select": "name"})
        deleted = await act(step(client, "actions[4]"), "delete_record", table="accounts",
                            record_id=made["id"], if_match=final["@odata.etag"])
    assert updated["record"]["name"] == "v2"
    assert stale.value.message.startswith(
        f"update_record: the accounts record with id {made['id']} changed since it was read "
        f"(it is no longer at version {etag}), so nothing was written")
    assert stale.value.status == 412
    assert stale_delete.value.message.startswith("delete_record: the accounts record")
    assert by_version == {"id": made["id"], "created": False}
    assert final["name"] == "v4" and deleted == {"deleted": True}


async def test_a_conditional_update_whose_answer_was_lost_is_taken_as_done(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        made = await act(step(client, "setup"), "create_record", table="accounts",
                         fields={"name": "v1", "revenue": 10})
        etag = (await client.get_json(f"accounts({made['id']})",
                                      {"$select": "name"}))["@odata.etag"]
        await fault(emulator, path="/api/data/*/accounts(*", method="PATCH", **AFTER_COMMIT)
        params = {"table": "accounts", "record_id": made["id"], "if_match": etag,
                  "fields": {"name": "v2", "revenue": 12.5, "industrycode": "Consulting"}}
        resent = await act(step(client), "update_record", **params)  # 503 after the write
        rerun = await act(step(client, may_repeat=True), "update_record", **params)
        row = await client.get_json(f"accounts({made['id']})", {"$select": "name,revenue"})
    assert resent == rerun == {"id": made["id"], "created": False}
    assert (row["name"], row["revenue"]) == ("v2", 12.5)
    patches = [e["status"] for e in await request_log(emulator, "/api/data/*/accounts(*")
               if e["method"] == "PATCH"]
    assert patches == [503, 412, 412]


async def test_a_repeated_conditional_update_still_fails_when_someone_else_changed_it(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        made = await act(step(client, "setup"), "create_record", table="accounts",
                         fields={"name": "v1"})
        etag = (await client.get_json(f"accounts({made['id']})",
                                      {"$select": "name"}))["@odata.etag"]
        await act(step(client, "other"), "update_record", table="accounts",
                  record_id=made["id"], fields={"name": "someone else's"})
        with pytest.raises(FatalError) as caught:
            await act(step(client, may_repeat=True), "update_record", table="accounts",
                      record_id=made["id"], fields={"name": "mine"}, if_match=etag)
        row = await client.get_json(f"accounts({made['id']})", {"$select": "name"})
    assert "changed since it was read" in caught.value.message
    assert row["name"] == "someone else's"


async def test_duplicate_detection_when_asked_refuses_a_duplicate_with_dataverses_code(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        await act(step(client, "setup"), "create_record", table="leads",
                  fields={"lastname": "Orton", "emailaddress1": "monte@example.com"})
        quiet = await act(step(client, "actions[0]"), "create_record", table="leads",
                          fields={"lastname": "Again", "emailaddress1": "monte@example.com"})
        with pytest.raises(FatalError) as caught:
            await act(step(client, "actions[1]"), "create_record", table="leads",
                      suppress_duplicate_detection=False,
                      fields={"lastname": "Third", "emailaddress1": "MONTE@example.com"})
        other = await act(step(client, "actions[2]"), "create_record", table="leads",
                          fields={"lastname": "New", "emailaddress1": "new@example.com"})
        with pytest.raises(FatalError) as update:
            await act(step(client, "actions[3]"), "update_record", table="leads",
                      record_id=other["id"], suppress_duplicate_detection=False,
                      fields={"emailaddress1": "monte@example.com"})
        names = sorted(r["lastname"] for r in (await client.get_json(
            "leads", {"$select": "lastname"}))["value"])
    assert quiet["id"]
    assert caught.value.code == "0x80040333" and caught.value.status == 500
    assert caught.value.message.startswith(
        "create_record: Dataverse's duplicate detection found a record like this one, so "
        "nothing was written")
    assert update.value.message.startswith("update_record: Dataverse's duplicate detection")
    assert names == ["Again", "New", "Orton"]


async def test_a_create_with_duplicate_detection_run_twice_leaves_one_record(
        emulator: RunningEmulator) -> None:
    await fault(emulator, path="/api/data/*/leads", method="POST", **AFTER_COMMIT)
    params = {"table": "leads", "suppress_duplicate_detection": False,
              "fields": {"lastname": "Once", "emailaddress1": "once@example.com"}}
    async with d365_client(emulator) as client:
        resent = await act(step(client), "create_record", **params)
        rerun = await act(step(client, may_repeat=True), "create_record", **params)
        rows = (await client.get_json("leads", {"$select": "lastname"}))["value"]
    assert resent == rerun and [r["leadid"] for r in rows] == [resent["id"]]
    posts = [e["status"] for e in await request_log(emulator, "/api/data/*/leads")
             if e["method"] == "POST"]
    assert posts == [503, 500, 500]  # the copies sent again were found duplicates of the first


def test_if_match_takes_an_etag_or_a_version_and_never_create_only() -> None:
    from connectors.catalog import default_registry
    spec = default_registry().actions["dynamics365.upsert_record"]
    base = {"table": "accounts", "record_id": "00000000-0000-4000-8000-000000000001",
            "fields": {"name": "x"}}
    assert spec.params.model_validate({**base, "if_match": 12}).if_match == 'W/"12"'
    assert spec.params.model_validate({**base, "if_match": 'W/"12"'}).if_match == 'W/"12"'
    for value, needle in [("*", "is not an ETag"), ("W/12", "is not an ETag")]:
        with pytest.raises(ValueError, match=needle):
            spec.params.model_validate({**base, "if_match": value})
    with pytest.raises(ValueError, match="create_only never updates"):
        spec.params.model_validate({**base, "if_match": 12, "mode": "create_only"})
