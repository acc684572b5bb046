"""attach_note and read_note against the emulator, over real HTTPS: a note with a file
about a record, read back whole or without its content, copied into a file column, and a
note step run twice that leaves one note."""

from __future__ import annotations

import base64
import os

import pytest

from connectors.errors import FatalError
from emulator import RunningEmulator
from emulator.dataverse import apply_seed
from tests.d365_actions_support import act, step
from tests.d365_support import d365_client, fault, request_log
from tests.test_d365_actions_files import SEED, b64, contract


async def test_a_note_with_a_file_about_a_record_by_key_reads_back_whole(
        emulator: RunningEmulator) -> None:
    body = b"Signed, sealed, delivered.\n"
    async with d365_client(emulator) as client:
        account = await act(step(client, "setup"), "create_record", table="accounts",
                            fields={"name": "Contoso", "accountnumber": "A-1"})
        note = await act(step(client), "attach_note", table="accounts",
                         key={"accountnumber": "A-1"}, subject="Contract",
                         note_text="signed copy", file_name="contract.txt",
                         content_base64=b64(body))
        read = await act(step(client, "actions[1]"), "read_note", note_id=note["id"])
        text = await act(step(client, "actions[2]"), "read_note", note_id=note["id"],
                         as_text=True)
        meta = await act(step(client, "actions[3]"), "read_note", note_id=note["id"],
                         include_content=False)
    assert note == {"id": note["id"], "file_name": "contract.txt", "mime_type": "text/plain",
                    "size_bytes": len(body)}
    assert base64.b64decode(read["content_base64"]) == body
    assert (read["subject"], read["note_text"]) == ("Contract", "signed copy")
    assert read["regarding"] == {"table": "account", "id": account["id"]}
    assert (read["file_name"], read["mime_type"], read["size_bytes"]) == (
        "contract.txt", "text/plain", len(body))
    assert text["content_text"] == body.decode()
    assert "content_base64" not in meta and "content_text" not in meta
    assert meta["size_bytes"] == len(body)


async def test_a_note_step_run_twice_leaves_one_note(emulator: RunningEmulator) -> None:
    await fault(emulator, path="/api/data/*/annotations", method="POST", kind="status",
                status=503, after_commit=True, count=1)
    async with d365_client(emulator) as client:
        account = await act(step(client, "setup"), "create_record", table="accounts",
                            fields={"name": "Fabrikam"})
        params = {"table": "accounts", "record_id": account["id"], "subject": "Call notes",
                  "file_name": "call.txt", "content_text": "They want a demo."}
        first = await act(step(client), "attach_note", **params)  # its 201 was lost: resent
        again = await act(step(client, may_repeat=True), "attach_note", **params)
        notes = await client.get_json("annotations", {
            "$select": "subject", "$filter": f"_objectid_value eq {account['id']}"})
    assert first == again
    assert [n["subject"] for n in notes["value"]] == ["Call notes"]
    posts = [e for e in await request_log(emulator, "/api/data/*/annotations")
             if e["method"] == "POST"]
    assert len(posts) == 3  # the lost answer, its resend, and the step run again


async def test_a_note_attachment_is_copied_into_a_file_column(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, SEED)
    scan = os.urandom(60 * 1024)  # too big for a step output, fine to copy
    async with d365_client(emulator) as client:
        record = await contract(client)
        account = await act(step(client, "setup"), "create_record", table="accounts",
                            fields={"name": "Scanned"})
        note = await act(step(client), "attach_note", table="accounts", record_id=account["id"],
                         file_name="scan.bin", content_base64=b64(scan))
        with pytest.raises(FatalError) as too_big:
            await act(step(client, "actions[1]"), "read_note", note_id=note["id"])
        copied = await act(step(client, "actions[2]"), "upload_file", table="new_contracts",
                           record_id=record, column="new_document",
                           copy_from={"note_id": note["id"]}, file_name="from-note.bin")
        stored = await client.request("GET", f"new_contracts({record})/new_document/$value")
    assert "is 60.0 KiB, over the 45.0 KiB" in too_big.value.message
    assert copied["file_name"] == "from-note.bin" and stored.body == scan


async def test_missing_records_and_notes_are_named(emulator: RunningEmulator) -> None:
    gone = "00000000-0000-4000-8000-0000000000ee"
    async with d365_client(emulator) as client:
        with pytest.raises(FatalError) as no_account:
            await act(step(client), "attach_note", table="accounts", record_id=gone,
                      subject="x")
        with pytest.raises(FatalError) as no_note:
            await act(step(client), "read_note", note_id=gone)
        with pytest.raises(FatalError) as no_source:
            await act(step(client), "attach_note", table="accounts", record_id=gone,
                      copy_from={"note_id": gone})
    assert no_account.value.message.startswith(f"attach_note: no accounts record with id {gone}")
    assert no_note.value.message.startswith(f"read_note: no note with id {gone}")
    assert no_source.value.message.startswith(f"attach_note: copy_from: no note with id {gone}")
