"""upload_file and download_file against the emulator's file and image columns, over real
HTTPS: one request or chunks, ranged downloads, bounds, copies, and a step run twice."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from connectors.catalog import default_registry
from connectors.dynamics365 import DataverseClient
from connectors.errors import FatalError
from emulator import RunningEmulator
from emulator.dataverse import apply_seed
from tests.d365_actions_support import JOB, act, step
from tests.d365_support import d365_client, fault, request_log

SEED = {"tables": [{"logical_name": "new_contract", "attributes": [
    {"name": "new_code", "type": "string", "max_length": 20},
    {"name": "new_document", "type": "file", "max_size_kb": 256},
    {"name": "new_small", "type": "file", "max_size_kb": 1},
    {"name": "new_logo", "type": "image"}],
    "keys": [{"name": "new_code_key", "attributes": ["new_code"]}]}]}


async def contract(client: DataverseClient, code: str | None = None) -> str:
    fields = {"new_name": "NDA", **({"new_code": code} if code else {})}
    made = await act(step(client, f"setup-{code}"), "create_record", table="new_contracts",
                     fields=fields)
    return str(made["id"])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def column_requests(emulator: RunningEmulator, column: str) -> list[dict[str, Any]]:
    return [e for e in await request_log(emulator, f"/api/data/*/new_contracts(*/{column}*")]


async def test_small_file_goes_in_one_request_and_comes_back_whole(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, SEED)
    pdf = b"%PDF-1.4 small\n" * 40
    async with d365_client(emulator) as client:
        record = await contract(client)
        up = await act(step(client), "upload_file", table="new_contracts", record_id=record,
                       column="new_document", file_name="nda.pdf", content_base64=b64(pdf))
        down = await act(step(client, "actions[1]"), "download_file", table="new_contract",
                         record_id=record, column="new_document")
        row = await client.get_json(f"new_contracts({record})",
                                    {"$select": "new_document,new_document_name"})
    assert up["chunks"] == 0 and up["size_bytes"] == len(pdf)
    assert up["file_id"] == row["new_document"] and row["new_document_name"] == "nda.pdf"
    assert (up["file_name"], up["mime_type"]) == ("nda.pdf", "application/pdf")
    assert base64.b64decode(down["content_base64"]) == pdf
    assert (down["found"], down["file_name"], down["mime_type"], down["size_bytes"]) == (
        True, "nda.pdf", "application/pdf", len(pdf))
    writes = [e for e in await column_requests(emulator, "new_document")
              if e["method"] == "PATCH"]
    assert len(writes) == 1


async def test_large_file_goes_through_the_block_messages_and_is_read_back_by_ranges(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, {"tables": [{"logical_name": "new_contract", "attributes": [
        {"name": "new_document", "type": "file"}, {"name": "new_copy", "type": "file"}]}]})
    big = os.urandom(5 * 1024 * 1024 + 123)  # over one 4 MiB block
    async with d365_client(emulator) as client:
        record = await contract(client)
        up = await act(step(client), "upload_file", table="new_contracts", record_id=record,
                       column="new_document", file_name="scan.bin", content_base64=b64(big))
        copied = await act(step(client, "actions[1]"), "upload_file", table="new_contracts",
                           record_id=record, column="new_copy",
                           copy_from={"table": "new_contracts", "record_id": record,
                                      "column": "new_document"})
        stored = await client.request("GET", f"new_contracts({record})/new_copy/$value")
    assert up["chunks"] == 2 and up["file_id"] and up["size_bytes"] == len(big)
    assert copied["chunks"] == 2 and copied["file_name"] == "scan.bin"
    assert stored.body == big
    messages = [e["path"].rsplit("/", 1)[1] for e in await request_log(emulator)
                if e["method"] == "POST" and "Block" in e["path"]]
    assert messages == ["InitializeFileBlocksUpload", "UploadBlock", "UploadBlock",
                        "CommitFileBlocksUpload"] * 2
    ranged = [e for e in await column_requests(emulator, "new_document")
              if e["method"] == "GET"]
    assert len(ranged) == 2  # the copy read the 5 MiB source in two 4 MiB ranges


async def test_chunk_size_and_a_non_ascii_name_use_blocks_and_text_round_trips(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, SEED)
    text = "naïve,café\n" * 3000  # 36 KB of UTF-8
    async with d365_client(emulator) as client:
        record = await contract(client)
        up = await act(step(client), "upload_file", table="new_contracts", record_id=record,
                       column="new_document", file_name="résumé.csv", content_text=text,
                       chunk_size_kb=16)
        down = await act(step(client, "actions[1]"), "download_file", table="new_contracts",
                         record_id=record, column="new_document", as_text=True)
    assert up["chunks"] == 3 and up["mime_type"] == "text/csv"
    assert down["content_text"] == text and "content_base64" not in down
    assert down["file_name"] == "résumé.csv"


async def test_a_file_larger_than_a_step_output_fails_after_one_chunk_naming_its_size(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, SEED)
    async with d365_client(emulator) as client:
        record = await contract(client)
        await act(step(client), "upload_file", table="new_contracts", record_id=record,
                  column="new_document", file_name="big.bin",
                  content_base64=b64(os.urandom(100 * 1024)))
        with pytest.raises(FatalError) as caught:
            await act(step(client, "actions[1]"), "download_file", table="new_contracts",
                      record_id=record, column="new_document")
    assert "is 100.0 KiB, over the 45.0 KiB" in caught.value.message
    reads = [e for e in await column_requests(emulator, "new_document") if e["method"] == "GET"]
    assert len(reads) == 1


async def test_wrong_column_too_big_file_and_empty_column_are_clear_errors_sending_nothing(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, SEED)
    async with d365_client(emulator) as client:
        record = await contract(client)
        with pytest.raises(FatalError) as not_a_file:
            await act(step(client), "upload_file", table="new_contracts", record_id=record,
                      column="new_name", file_name="x.txt", content_text="x")
        with pytest.raises(FatalError) as too_big:
            await act(step(client), "upload_file", table="new_contracts", record_id=record,
                      column="new_small", file_name="x.txt", content_text="x" * 2048)
        with pytest.raises(FatalError) as empty:
            await act(step(client), "download_file", table="new_contracts", record_id=record,
                      column="new_document")
        allowed = await act(step(client), "download_file", table="new_contracts",
                            record_id=record, column="new_document", missing_ok=True)
    assert "new_contract.new_name is not a file or image column" in not_a_file.value.message
    assert "new_document, new_logo, new_small" in not_a_file.value.message
    assert "is 2.0 KiB; new_contract.new_small takes at most 1 KB" in too_big.value.message
    assert "holds no file (set missing_ok" in empty.value.message
    assert allowed == {"id": record, "found": False, "file_name": None, "mime_type": None,
                       "size_bytes": None, "content_base64": None}
    sent = [e for e in await request_log(emulator) if e["method"] in ("PATCH", "POST")
            and ("Block" in e["path"] or ")/new_" in e["path"])]
    assert sent == []


async def test_bad_params_are_refused_before_running() -> None:
    spec = default_registry().actions["dynamics365.upload_file"]
    base = {"table": "new_contracts", "record_id": JOB, "column": "new_document"}
    for params, needle in [
            ({**base, "file_name": "a.txt"}, "exactly one of content_base64"),
            ({**base, "file_name": "a.txt", "content_text": "a", "content_base64": "YQ=="},
             "exactly one of content_base64"),
            ({**base, "content_text": "a"}, "give file_name"),
            ({**base, "file_name": "a\nb.txt", "content_text": "a"}, "control characters"),
            ({**base, "file_name": "a.txt", "content_text": "a", "chunk_size_kb": 8192},
             "less than or equal to 4096")]:
        with pytest.raises(ValueError, match=needle):
            spec.params.model_validate(params)


async def test_upload_run_again_after_a_failed_commit_replaces_the_file_once(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, SEED)
    first, second = b"first version", os.urandom(40 * 1024)
    async with d365_client(emulator) as client:
        record = await contract(client)
        await act(step(client, "actions[0]"), "upload_file", table="new_contracts",
                  record_id=record, column="new_document", file_name="v1.txt",
                  content_base64=b64(first))
        await fault(emulator, path="/api/data/*/CommitFileBlocksUpload", method="POST",
                    kind="status", status=400, count=1)
        params = {"table": "new_contracts", "record_id": record, "column": "new_document",
                  "file_name": "v2.bin", "content_base64": b64(second), "chunk_size_kb": 16}
        with pytest.raises(FatalError):
            await act(step(client, "actions[1]"), "upload_file", **params)
        kept = await client.request("GET", f"new_contracts({record})/new_document/$value")
        again = await act(step(client, "actions[1]", may_repeat=True), "upload_file", **params)
        twice = await act(step(client, "actions[1]", may_repeat=True), "upload_file", **params)
        stored = await client.request("GET", f"new_contracts({record})/new_document/$value")
        row = await client.get_json(f"new_contracts({record})",
                                    {"$select": "new_document,new_document_name"})
    assert kept.body == first  # the upload cut short left the earlier file in place
    assert stored.body == second and row["new_document_name"] == "v2.bin"
    assert again["size_bytes"] == twice["size_bytes"] == len(second)
    assert row["new_document"] == twice["file_id"]


async def test_image_column_round_trip_at_full_size(emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, SEED)
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(2000)
    async with d365_client(emulator) as client:
        record = await contract(client)
        up = await act(step(client), "upload_file", table="new_contracts", record_id=record,
                       column="new_logo", file_name="logo.png", content_base64=b64(png))
        down = await act(step(client, "actions[1]"), "download_file", table="new_contracts",
                         record_id=record, column="new_logo")
    assert up["file_id"] is None and up["mime_type"] == "image/png"
    assert base64.b64decode(down["content_base64"]) == png
    queries = [e["query"] for e in await column_requests(emulator, "new_logo")
               if e["method"] == "GET"]
    assert queries and all("size=full" in str(q) for q in queries)


async def test_a_record_addressed_by_alternate_key_and_a_file_kept_in_the_database(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, SEED)
    data = os.urandom(3000)
    async with d365_client(emulator) as client:
        record = await contract(client, "C'1")
        up = await act(step(client), "upload_file", table="new_contracts",
                       key={"new_code": "C'1"}, column="new_document", file_name="k.bin",
                       content_base64=b64(data))
        # Where a file is kept in the database (on-premises, customer-managed keys)
        # Dataverse refuses ranges: the step then reads it in one request.
        await fault(emulator, path="/api/data/*/new_contracts(*/new_document/$value",
                    method="GET", kind="status", status=400, error_code="0x80090017",
                    message="Downloading in multiple chunks is not supported for the files "
                            "stored in the database.", count=1)
        down = await act(step(client, "actions[1]"), "download_file", table="new_contracts",
                         key={"new_code": "C'1"}, column="new_document")
    assert up["id"] == down["id"] == record
    assert base64.b64decode(down["content_base64"]) == data
    reads = [e["status"] for e in await column_requests(emulator, "new_document")
             if e["method"] == "GET"]
    assert reads == [400, 200]
