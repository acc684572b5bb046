"""Versions, late commits and the deletion log that change tracking will read."""

from __future__ import annotations

from emulator import RunningEmulator
from emulator.dataverse import environment_of
from tests.dataverse_client import dataverse_api


async def test_versionnumber_rises_across_tables_and_deletes_are_logged(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account_id = await api.create("accounts", {"name": "a"})
        contact_id = await api.create("contacts", {"lastname": "c"})
        account_v = int((await api.get(f"accounts({account_id})")).json["@odata.etag"][3:-1])
        contact_v = int((await api.get(f"contacts({contact_id})")).json["@odata.etag"][3:-1])
        await api.delete(f"contacts({contact_id})")
    env = environment_of(emulator.state)
    contacts = env.catalog.by_logical_name("contact")
    assert contacts is not None
    assert contact_v > account_v
    deleted = env.storage.deleted_since(contacts, contact_v)
    assert [d[0] for d in deleted] == [contact_id] and deleted[0][1] > contact_v
    assert env.storage.deleted_since(contacts, deleted[0][1]) == []


async def test_control_route_sets_explicit_timestamps_for_late_commits(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        [late] = await api.control_insert("contact", [{
            "lastname": "late", "createdon": "2020-05-01T10:00:00Z",
            "modifiedon": "2020-05-01T10:00:07.900Z"}])
        body = (await api.get(f"contacts({late})?$select=createdon,modifiedon")).json
        url = f"{emulator.base_url}/_emulator/dataverse/tables/contact/rows"
        async with api.http.get(url) as resp:
            raw = (await resp.json())["rows"]
    assert body["createdon"] == "2020-05-01T10:00:00Z"
    assert body["modifiedon"] == "2020-05-01T10:00:07Z"
    assert raw[0]["contactid"] == late and raw[0]["modifiedon"] == "2020-05-01T10:00:07Z"
