"""Notes with attachments, and file and image columns: single and chunked upload, whole and
ranged download, the block messages, deletion and the size limit."""

from __future__ import annotations

import base64
import os

from emulator import RunningEmulator
from emulator.dataverse import apply_seed
from tests.dataverse_client import Api, dataverse_api

SEED = {"tables": [{"logical_name": "new_contract", "attributes": [
    {"name": "new_document", "type": "file", "max_size_kb": 64},
    {"name": "new_logo", "type": "image"}]}]}


async def _raw(api: Api, method: str, url: str, body: bytes | None = None,
               **headers: str) -> tuple[int, dict[str, str], bytes]:
    full = url if url.startswith("http") else f"{api.root}/{url}"
    async with api.http.request(method, full, data=body, headers={
            "Authorization": f"Bearer {api.token}", **headers}) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def _contract(api: Api) -> str:
    return await api.create("new_contracts", {"new_name": "NDA"})


async def test_file_column_single_upload_download_and_delete(emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, SEED)
    content = b"%PDF-1.4 emulated\n" * 100
    async with dataverse_api(emulator) as api:
        contract = await _contract(api)
        put = await _raw(api, "PATCH", f"new_contracts({contract})/new_document", content,
                         **{"Content-Type": "application/octet-stream",
                            "x-ms-file-name": "nda.pdf"})
        row = (await api.get(f"new_contracts({contract})?$select=new_document,"
                             "new_document_name")).json
        status, headers, body = await _raw(api, "GET",
                                           f"new_contracts({contract})/new_document/$value")
        ranged = await _raw(api, "GET", f"new_contracts({contract})/new_document/$value",
                            Range="bytes=0-9")
        deleted = await _raw(api, "DELETE", f"new_contracts({contract})/new_document")
        gone = await _raw(api, "GET", f"new_contracts({contract})/new_document/$value")
        after = (await api.get(f"new_contracts({contract})?$select=new_document")).json
    assert put[0] == 204
    assert row["new_document_name"] == "nda.pdf" and len(row["new_document"]) == 36
    assert (status, body) == (200, content)
    assert (headers["x-ms-file-name"], headers["x-ms-file-size"], headers["mimetype"]) == (
        "nda.pdf", str(len(content)), "application/pdf")
    assert (ranged[0], ranged[2]) == (206, content[:10])
    assert deleted[0] == 204 and gone[0] == 404 and after["new_document"] is None


async def test_file_column_chunked_upload_then_too_big(emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, SEED)
    content = os.urandom(50_000)
    async with dataverse_api(emulator) as api:
        contract = await _contract(api)
        start = await _raw(api, "PATCH", f"new_contracts({contract})/new_document"
                           "?x-ms-file-name=big.bin", **{"x-ms-transfer-mode": "chunked"})
        location = start[1]["Location"]
        statuses = []
        for offset in range(0, len(content), 20_000):
            chunk = content[offset:offset + 20_000]
            reply = await _raw(api, "PATCH", location, chunk, **{
                "Content-Type": "application/octet-stream", "x-ms-file-name": "big.bin",
                "Content-Range": f"bytes {offset}-{offset + len(chunk) - 1}/{len(content)}"})
            statuses.append(reply[0])
        downloaded = await _raw(api, "GET", f"new_contracts({contract})/new_document/$value")
        too_big = await _raw(api, "PATCH", f"new_contracts({contract})/new_document",
                             os.urandom(65 * 1024), **{"x-ms-file-name": "x.bin"})
    assert start[0] == 200 and start[1]["x-ms-chunk-size"] == "4194304"
    assert "sessiontoken=" in location
    assert statuses == [206, 206, 204]
    assert downloaded[2] == content
    assert too_big[0] == 400 and b"0x80044a02" in too_big[2]


async def test_file_block_messages_upload_and_download(emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, SEED)
    blocks = [b"first block|", b"second block"]
    async with dataverse_api(emulator) as api:
        contract = await _contract(api)
        target = {"new_contractid": contract, "@odata.type": "Microsoft.Dynamics.CRM.new_contract"}
        token = (await api.post("InitializeFileBlocksUpload", {
            "Target": target, "FileName": "two.txt", "FileAttributeName": "new_document"})
        ).json["FileContinuationToken"]
        ids = [base64.b64encode(f"block-{i}".encode()).decode() for i in range(2)]
        for block_id, data in zip(reversed(ids), reversed(blocks), strict=True):
            sent = await api.post("UploadBlock", {"BlockId": block_id, "FileContinuationToken":
                                                  token, "BlockData": base64.b64encode(data)
                                                  .decode()})
            assert sent.status == 204
        committed = (await api.post("CommitFileBlocksUpload", {
            "FileName": "two.txt", "MimeType": "text/plain", "BlockList": ids,
            "FileContinuationToken": token})).json
        download = (await api.post("InitializeFileBlocksDownload", {
            "Target": target, "FileAttributeName": "new_document"})).json
        first = (await api.post("DownloadBlock", {
            "Offset": 0, "BlockLength": 12,
            "FileContinuationToken": download["FileContinuationToken"]})).json
        deleted = await api.post("DeleteFile", {"FileId": committed["FileId"]})
    assert committed["FileSizeInBytes"] == 24
    assert (download["FileName"], download["FileSizeInBytes"]) == ("two.txt", 24)
    assert base64.b64decode(first["Data"]) == b"first block|"
    assert deleted.status == 204


async def test_image_column_returns_the_image_itself(emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, SEED)
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(64)
    async with dataverse_api(emulator) as api:
        contract = await _contract(api)
        await _raw(api, "PATCH", f"new_contracts({contract})/new_logo", png,
                   **{"x-ms-file-name": "logo.png"})
        row = (await api.get(f"new_contracts({contract})?$select=new_logo")).json
        full = await _raw(api, "GET", f"new_contracts({contract})/new_logo/$value?size=full")
        ignored = await api.patch(f"new_contracts({contract})", {"new_logo": "AAAA"},
                                  headers={"If-Match": "*"})
    assert base64.b64decode(row["new_logo"]) == png
    assert full[2] == png and full[1]["mimetype"] == "image/png"
    assert ignored.status == 204  # a row body cannot set it, as with other read-only columns


async def test_notes_carry_attachments_on_any_record(emulator: RunningEmulator) -> None:
    attachment = b"hello, note"
    async with dataverse_api(emulator) as api:
        account = await api.create("accounts", {"name": "Annotated"})
        note = await api.create("annotations", {
            "subject": "Contract", "notetext": "signed copy", "filename": "c.txt",
            "mimetype": "text/plain", "documentbody": base64.b64encode(attachment).decode(),
            "objectid_account@odata.bind": f"/accounts({account})"})
        got = (await api.get(f"annotations({note})?$select=documentbody,filesize,isdocument,"
                             "objecttypecode,_objectid_value")).json
        listed = await api.get(f"accounts({account})/Account_Annotation?$select=subject")
        broken = await api.post("annotations", {"subject": "x", "documentbody": "not base64!"})
    assert base64.b64decode(got["documentbody"]) == attachment
    assert (got["filesize"], got["isdocument"], got["objecttypecode"]) == (11, True, "account")
    assert got["_objectid_value"] == account
    assert [n["subject"] for n in listed.json["value"]] == ["Contract"]
    assert broken.status == 400
