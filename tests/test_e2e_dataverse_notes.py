"""``recipe-runner run`` as a subprocess against the emulator: a recipe that files a note
(rendered from templates, written on behalf of another user) about each new contact and
reads it back, as a user would run it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from emulator import RunningEmulator
from emulator.identity.testing import add_user
from tests.d365_support import d365_client, insert_rows, iso
from tests.daemon_support import prepare, run_daemon


def note_recipe(owner_oid: str) -> dict[str, Any]:
    return {
        "name": "contact-notes",
        "variables": {"owner": owner_oid},
        "trigger": {"type": "dynamics365.new_record", "connection": "crm", "table": "contacts",
                    "select": ["contactid", "fullname"], "since": "beginning"},
        "actions": [
            {"id": "note", "type": "dynamics365.attach_note", "connection": "crm",
             "table": "contacts", "record_id": "{{ trigger.record.contactid }}",
             "subject": "Welcome {{ trigger.record.fullname }}",
             "file_name": "welcome-{{ trigger.record.fullname | lower }}.txt",
             "content_text": "Dear {{ trigger.record.fullname }},\nwelcome aboard.\n",
             "impersonate": {"object_id": "{{ vars.owner }}"}},
            {"id": "read", "type": "dynamics365.read_note", "connection": "crm",
             "note_id": "{{ steps.note.id }}", "as_text": True},
            {"type": "log", "message": "note said: {{ steps.read.content_text }}"},
        ],
    }


async def test_a_note_per_new_contact_on_behalf_of_its_owner(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    grace = await add_user(emulator, username="grace@emulator.test", password="pw",
                           display_name="Grace Hopper")
    args = await prepare(emulator, tmp_path, {"notes": note_recipe(grace["object_id"])})
    async with emulator.client_session() as http:
        (contact,) = await insert_rows(http, emulator, "contact", [
            {"firstname": "Ada", "lastname": "Byron", "modifiedon": iso(time.time() - 60)}])
    run = await run_daemon(*args, "--burst")
    assert run.returncode == 0, run.stderr
    finished = [e for e in run.events() if e["event"] == "job.finished"]
    assert [e["outcome"] for e in finished] == ["succeeded"]
    said = [e for e in run.events() if e.get("message", "").startswith("note said:")]
    # (a rendered template loses its last line break, as Jinja's do)
    assert said[0]["message"] == "note said: Dear Ada Byron,\nwelcome aboard."
    async with d365_client(emulator) as client:
        notes = (await client.get_json("annotations", {
            "$select": "subject,filename,_objectid_value,_createdby_value,"
                       "_createdonbehalfby_value"}, {"Prefer": 'odata.include-annotations="*"'}
        ))["value"]
    (note,) = notes
    assert (note["subject"], note["filename"]) == ("Welcome Ada Byron", "welcome-ada byron.txt")
    assert note["_objectid_value"] == contact
    by = "@OData.Community.Display.V1.FormattedValue"
    assert note[f"_createdby_value{by}"] == "Grace Hopper"
    assert note["_createdonbehalfby_value"] not in (None, note["_createdby_value"])
