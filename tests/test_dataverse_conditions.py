"""Duplicate detection (opt-in by header) and optimistic concurrency with real ETags."""

from __future__ import annotations

from emulator import RunningEmulator
from emulator.dataverse import apply_seed
from tests.dataverse_client import dataverse_api

DETECT = {"MSCRM.SuppressDuplicateDetection": "false"}


async def test_duplicate_detection_only_when_asked_and_as_dataverse_answers_it(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        await api.create("leads", {"lastname": "Orton", "emailaddress1": "monte@example.com"})
        suppressed = await api.post("leads", {"lastname": "Again",
                                              "emailaddress1": "monte@example.com"})
        detected = await api.post("leads", {"firstname": "Monte", "lastname": "Orton",
                                            "emailaddress1": "MONTE@example.com"}, headers=DETECT)
        fine = await api.post("leads", {"lastname": "New", "emailaddress1": "new@example.com"},
                              headers=DETECT)
        new_id = fine.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
        update = await api.patch(f"leads({new_id})", {"emailaddress1": "monte@example.com"},
                                 headers={**DETECT, "If-Match": "*"})
        rows = (await api.get("leads?$select=lastname")).json["value"]
    assert suppressed.status == 204 and fine.status == 204
    assert detected.status == 500
    assert detected.json["error"]["code"] == "0x80040333"
    assert detected.json["error"]["message"] == (
        "A record was not created or updated because a duplicate of the current record "
        "already exists.")
    assert detected.json["error"]["innererror"]["type"] == "Microsoft.Crm.CrmException"
    assert update.status == 500
    assert sorted(r["lastname"] for r in rows) == ["Again", "New", "Orton"]


async def test_seeded_duplicate_rules_replace_or_add(emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, {"duplicate_detection": False, "duplicate_rules": [
        {"table": "contact", "attributes": ["lastname", "telephone1"]}]})
    async with dataverse_api(emulator) as api:
        await api.create("contacts", {"lastname": "Lee", "telephone1": "1",
                                      "emailaddress1": "a@x.test"})
        same_email = await api.post("contacts", {"lastname": "Other", "emailaddress1":
                                                 "b@x.test"}, headers=DETECT)
        same_pair = await api.post("contacts", {"lastname": "lee", "telephone1": "1"},
                                   headers=DETECT)
    assert same_email.status == 204 and same_pair.status == 500


async def test_if_match_guards_property_writes_and_deletes(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account = await api.create("accounts", {"name": "v1", "description": "d"})
        etag = (await api.get(f"accounts({account})?$select=name")).json["@odata.etag"]
        ok = await api.put(f"accounts({account})/name", {"value": "v2"},
                           headers={"If-Match": etag})
        stale_put = await api.put(f"accounts({account})/name", {"value": "v3"},
                                  headers={"If-Match": etag})
        stale_clear = await api.delete(f"accounts({account})/description",
                                       headers={"If-Match": etag})
        stale_delete = await api.delete(f"accounts({account})", headers={"If-Match": etag})
        body = (await api.get(f"accounts({account})?$select=name,description")).json
        current = body["@odata.etag"]
        deleted = await api.delete(f"accounts({account})", headers={"If-Match": current})
    assert ok.status == 204
    for reply in (stale_put, stale_clear, stale_delete):
        assert reply.status == 412
        assert reply.json["error"]["message"] == (
            "The version of the existing record doesn't match the RowVersion property "
            "provided.")
    assert (body["name"], body["description"]) == ("v2", "d")
    assert deleted.status == 204
