"""Examples of "Use file column data"
(learn.microsoft.com/power-apps/developer/data-platform/file-column-data), on a custom table
(the page's ``sample_filecolumn`` sits on account, which a seed cannot extend)."""

from __future__ import annotations

import base64
import os

from emulator import RunningEmulator
from emulator.dataverse import apply_seed
from tests.dataverse_client import Api, dataverse_api

SEED = {"tables": [{"logical_name": "sample_record", "attributes": [
    {"name": "sample_filecolumn", "type": "file", "max_size_kb": 102400}]}]}
NS = "Microsoft.Dynamics.CRM."


async def _raw(api: Api, method: str, url: str, body: bytes | None = None,
               **headers: str) -> tuple[int, dict[str, str], bytes]:
    full = url if url.startswith("http") else f"{api.root}/{url}"
    async with api.http.request(method, full, data=body, headers={
            "Authorization": f"Bearer {api.token}", **headers}) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_behavior_when_retrieving_and_maximum_file_size(emulator: RunningEmulator) -> None:
    """file-column-data: "Behavior when retrieving" and "Check maximum file size"."""
    apply_seed(emulator.state, SEED)
    async with dataverse_api(emulator) as api:
        record = await api.create("sample_records", {"new_name": "Contoso Ltd."})
        await _raw(api, "PATCH", f"sample_records({record})/sample_filecolumn", b"pdf",
                   **{"Content-Type": "application/octet-stream", "x-ms-file-name": "25mb.pdf"})
        row = (await api.get(f"sample_records({record})?$select=new_name,sample_filecolumn,"
                             "sample_filecolumn_name")).json
        size = (await api.get("EntityDefinitions(LogicalName='sample_record')/Attributes("
                              f"LogicalName='sample_filecolumn')/{NS}FileAttributeMetadata"
                              "?$select=MaxSizeInKB")).json
    assert row["sample_filecolumn_name"] == "25mb.pdf" and len(row["sample_filecolumn"]) == 36
    assert set(size) == {"@odata.context", "MaxSizeInKB", "MetadataId"}
    assert size["MaxSizeInKB"] == 102400


async def test_upload_in_chunks_and_download_in_chunks(emulator: RunningEmulator) -> None:
    """file-column-data: "Upload the file in chunks using Web API" and "Download the file in
    chunks using Web API"."""
    apply_seed(emulator.state, SEED)
    content = os.urandom(10_000)
    async with dataverse_api(emulator) as api:
        record = await api.create("sample_records", {"new_name": "x"})
        status, headers, _ = await _raw(
            api, "PATCH", f"sample_records({record})/sample_filecolumn?x-ms-file-name=25mb.pdf",
            **{"x-ms-transfer-mode": "chunked"})
        chunks = [await _raw(api, "PATCH", headers["Location"], content[i:i + 4000], **{
            "x-ms-file-name": "25mb.pdf", "Content-Type": "application/octet-stream",
            "Content-Range": f"bytes {i}-{min(i + 4000, len(content)) - 1}/{len(content)}"})
            for i in range(0, len(content), 4000)]
        part = await _raw(api, "GET", f"sample_records({record})/sample_filecolumn/$value",
                          Range="bytes=0-4193")
        deleted = await _raw(api, "DELETE", f"sample_records({record})/sample_filecolumn")
    assert status == 200
    assert (headers["Accept-Ranges"], headers["x-ms-chunk-size"]) == ("bytes", "4194304")
    assert "sessiontoken=" in headers["Location"]
    assert [c[0] for c in chunks] == [206, 206, 204]
    assert part[0] == 206 and part[2] == content[:4194]
    assert (part[1]["x-ms-file-size"], part[1]["x-ms-file-name"], part[1]["mimetype"]) == (
        "10000", "25mb.pdf", "application/pdf")
    assert part[1]["x-ms-chunk-size"] == "4194304"
    assert deleted[0] == 204


async def test_upload_and_download_with_the_file_messages(emulator: RunningEmulator) -> None:
    """file-column-data: "Use Dataverse messages to upload a file" and "… to download a
    file", then "Use the DeleteFile message"."""
    apply_seed(emulator.state, SEED)
    async with dataverse_api(emulator) as api:
        record = await api.create("sample_records", {"new_name": "x"})
        target = {"sample_recordid": record, "@odata.type": f"{NS}sample_record"}
        init = await api.post("InitializeFileBlocksUpload", {
            "Target": target, "FileName": "25mb.pdf", "FileAttributeName": "sample_filecolumn"})
        token = init.json["FileContinuationToken"]
        block_id = base64.b64encode(b"98c88968-736f-4bb5-8279-6e678014b31d").decode()
        upload = await api.post("UploadBlock", {"BlockId": block_id, "FileContinuationToken":
                                                token, "BlockData": base64.b64encode(b"%PDF")
                                                .decode()})
        commit = await api.post("CommitFileBlocksUpload", {
            "FileName": "25mb.pdf", "MimeType": "application/pdf", "BlockList": [block_id],
            "FileContinuationToken": token})
        download = await api.post("InitializeFileBlocksDownload", {
            "Target": target, "FileAttributeName": "sample_filecolumn"})
        block = await api.post("DownloadBlock", {"Offset": 0, "BlockLength": 4194304,
                                                 "FileContinuationToken":
                                                 download.json["FileContinuationToken"]})
        deleted = await api.post("DeleteFile", {"FileId": commit.json["FileId"]})
    assert init.json["@odata.context"].endswith(f"#{NS}InitializeFileBlocksUploadResponse")
    assert upload.status == 204
    assert set(commit.json) == {"@odata.context", "FileId", "FileSizeInBytes"}
    assert commit.json["FileSizeInBytes"] == 4
    assert set(download.json) == {"@odata.context", "FileSizeInBytes", "FileName",
                                  "FileContinuationToken", "IsChunkingSupported"}
    assert base64.b64decode(block.json["Data"]) == b"%PDF"
    assert deleted.status == 204
