"""Moving file bytes to and from Dataverse (Microsoft's "Use file column data", "Use image
column data", the annotation table), for the file and note actions.

**Upload** to a file or image column: a file of at most one chunk whose name is ASCII and
whose type follows from its name goes in one request (``PATCH <set>(<id>)/<column>``,
``application/octet-stream``, ``x-ms-file-name``); any other goes through the block messages:
``InitializeFileBlocksUpload`` (the target and file name), one ``UploadBlock`` per chunk
(base64 data, block ids of equal length) and ``CommitFileBlocksUpload`` (the block list in
order, the file name and MIME type), which answers the new file's id. Either way the column
holds the new file only once the last request succeeds; an upload cut short leaves the
previous file in place.

**Download** of a column: ``GET <set>(<id>)/<column>/$value`` with ``Range: bytes=a-b``,
chunk by chunk; the first answer's ``x-ms-file-size`` says how large the file is, so a file
over the caller's limit fails after one chunk. Where Dataverse cannot serve parts (a file kept
in the database, ``0x80090017``), the file is read in one request. Image columns are read at
full size (``?size=full``) unless the thumbnail is asked for.

**Note attachments** live in the note's ``documentbody`` (base64): read only when
``filesize`` is within the limit.

Which columns are file or image columns, and their ``MaxSizeInKB``, come from the metadata
casts ``FileAttributeMetadata`` / ``ImageAttributeMetadata`` (read once per table and client).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import mimetypes
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from connectors.dynamics365.actions.metadata import TableInfo
from connectors.dynamics365.client import BINARY_TYPE, DataverseClient, DataverseResponse
from connectors.errors import FatalError
from connectors.odata import escaping as odata

NAMESPACE = "Microsoft.Dynamics.CRM."
BLOCK_MAX_BYTES = 4 * 1024 * 1024  # UploadBlock takes blocks of up to 4 MB
NO_FILE = "0x80060891"  # no file in the column
TOO_BIG = "0x80044a02"  # larger than the column's MaxSizeInKB (or the notes' limit)
NO_PARTIAL = "0x80090017"  # this file cannot be downloaded in several chunks


@dataclass(frozen=True)
class FileColumn:
    name: str
    kind: Literal["file", "image"]
    max_size_kb: int | None


@dataclass(frozen=True)
class FileContent:
    """A file's bytes with its name and MIME type."""

    name: str
    mime_type: str
    data: bytes


def mime_type_of(name: str) -> str:
    return mimetypes.guess_type(name)[0] or BINARY_TYPE


def size_text(size_bytes: int) -> str:
    """``512 bytes``, ``45.0 KiB``, ``3.2 MiB``: a size for a message."""
    if size_bytes < 1024:
        return f"{size_bytes} bytes"
    if size_bytes < 1024 * 1024:
        return f"{size_bytes / 1024:.1f} KiB"
    return f"{size_bytes / (1024 * 1024):.1f} MiB"


# -- which columns hold files ------------------------------------------------------------

_COLUMNS: weakref.WeakKeyDictionary[DataverseClient, dict[str, dict[str, FileColumn]]] = \
    weakref.WeakKeyDictionary()


async def file_column(client: DataverseClient, info: TableInfo, name: str,
                      what: str) -> FileColumn:
    """The file or image column ``name`` of ``info``; FatalError naming the valid ones."""
    columns = await _file_columns(client, info)
    if name not in columns:
        valid = ", ".join(sorted(columns)) or "none"
        raise FatalError(f"{what}: {info.logical_name}.{name} is not a file or image column "
                         f"(its file and image columns: {valid})")
    return columns[name]


async def _file_columns(client: DataverseClient, info: TableInfo) -> dict[str, FileColumn]:
    known = _COLUMNS.setdefault(client, {})
    if info.logical_name not in known:
        definition = f"EntityDefinitions(LogicalName={odata.string_literal(info.logical_name)})"
        replies = await asyncio.gather(*(client.get_json(
            f"{definition}/Attributes/{NAMESPACE}{kind.title()}AttributeMetadata",
            {"$select": "LogicalName,MaxSizeInKB"}) for kind in ("file", "image")))
        known[info.logical_name] = {
            str(a["LogicalName"]): FileColumn(str(a["LogicalName"]), kind, a.get("MaxSizeInKB"))
            for kind, reply in zip(("file", "image"), replies, strict=True)
            for a in reply.get("value") or []}
    return known[info.logical_name]


# -- upload ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """A file or image column of one record, and the headers every request carries."""

    info: TableInfo
    record_id: str
    column: FileColumn
    headers: Mapping[str, str]

    @property
    def path(self) -> str:
        return f"{self.info.entity_set}{odata.key_segment(self.record_id)}/{self.column.name}"

    def reference(self) -> dict[str, str]:
        return {self.info.primary_id: self.record_id,
                "@odata.type": f"{NAMESPACE}{self.info.logical_name}"}


@dataclass(frozen=True)
class Uploaded:
    file_id: str | None
    chunks: int  # 0: sent in one request


async def upload(client: DataverseClient, target: Target, content: FileContent,
                 chunk_bytes: int) -> Uploaded:
    """Store ``content`` in the column (see the module docstring)."""
    single = (len(content.data) <= chunk_bytes and content.name.isascii()
              and content.mime_type == mime_type_of(content.name))
    if single:
        await client.request("PATCH", target.path, data=content.data, content_type=BINARY_TYPE,
                             headers={**target.headers, "x-ms-file-name": content.name})
        return Uploaded(await _file_id(client, target), 0)
    return await _upload_blocks(client, target, content, chunk_bytes)


async def _upload_blocks(client: DataverseClient, target: Target, content: FileContent,
                         chunk_bytes: int) -> Uploaded:
    started = await _message(client, "InitializeFileBlocksUpload", target.headers, {
        "Target": target.reference(), "FileName": content.name,
        "FileAttributeName": target.column.name})
    token = str(started["FileContinuationToken"])
    chunks = [content.data[i:i + chunk_bytes]
              for i in range(0, len(content.data), chunk_bytes)] or [b""]
    ids = [base64.b64encode(f"block-{index:08d}".encode()).decode()
           for index in range(len(chunks))]
    for block_id, chunk in zip(ids, chunks, strict=True):
        await _message(client, "UploadBlock", target.headers, {
            "BlockId": block_id, "BlockData": base64.b64encode(chunk).decode(),
            "FileContinuationToken": token})
    committed = await _message(client, "CommitFileBlocksUpload", target.headers, {
        "FileName": content.name, "MimeType": content.mime_type, "BlockList": ids,
        "FileContinuationToken": token})
    return Uploaded(str(committed.get("FileId") or "") or None, len(chunks))


async def _file_id(client: DataverseClient, target: Target) -> str | None:
    """The id Dataverse gave the file just stored (a file column's value); an image
    column's value is the thumbnail itself, so there it is None."""
    if target.column.kind != "file":
        return None
    path = target.info.entity_set + odata.key_segment(target.record_id)
    row = await client.get_json(path, {"$select": target.column.name}, target.headers)
    value = row.get(target.column.name)
    return str(value) if value else None


async def _message(client: DataverseClient, name: str, headers: Mapping[str, str],
                   body: dict[str, Any]) -> dict[str, Any]:
    response = await client.request("POST", name, json_body=body, headers=headers)
    return response.body if isinstance(response.body, dict) else {}


# -- download ----------------------------------------------------------------------------

async def download(client: DataverseClient, target: Target, max_bytes: int, chunk_bytes: int,
                   thumbnail: bool, what: str) -> FileContent | None:
    """The column's file, or None when it holds none; FatalError when it is larger than
    ``max_bytes`` (found out from the first chunk)."""
    url = target.path + "/$value"
    query = {"size": "full"} if target.column.kind == "image" and not thumbnail else None
    first_end = min(chunk_bytes, max_bytes + 1) - 1
    try:
        response = await _part(client, url, query, target.headers, 0, first_end)
    except FatalError as exc:
        if (exc.code or "").lower() == NO_FILE:
            return None
        if (exc.code or "").lower() != NO_PARTIAL:
            raise
        response = await client.request("GET", url, params=query, headers=target.headers)
    data, total = _bytes(response), _total(response)
    if total > max_bytes:
        raise FatalError(f"{what}: the file in {target.info.logical_name}.{target.column.name} "
                         f"is {size_text(total)}, over the {size_text(max_bytes)} this step "
                         "can carry")
    parts = [data]
    while sum(len(p) for p in parts) < total:
        start = sum(len(p) for p in parts)
        end = min(start + chunk_bytes, total) - 1
        parts.append(_bytes(await _part(client, url, query, target.headers, start, end)))
    headers = response.headers
    name = headers.get("x-ms-file-name") or target.column.name
    return FileContent(name, headers.get("mimetype") or mime_type_of(name), b"".join(parts))


async def _part(client: DataverseClient, url: str, query: dict[str, str] | None,
                headers: Mapping[str, str], start: int, end: int) -> DataverseResponse:
    return await client.request("GET", url, params=query,
                                headers={**headers, "Range": f"bytes={start}-{end}"})


def _bytes(response: DataverseResponse) -> bytes:
    body = response.body
    return body if isinstance(body, bytes) else b""


def _total(response: DataverseResponse) -> int:
    size = response.headers.get("x-ms-file-size")
    return int(size) if size and size.isdigit() else len(_bytes(response))


# -- note attachments --------------------------------------------------------------------

NOTE_COLUMNS = "annotationid,subject,notetext,filename,mimetype,filesize,isdocument," \
               "_objectid_value,objecttypecode"


async def read_note(client: DataverseClient, note_id: str, max_bytes: int | None,
                    headers: Mapping[str, str], what: str) -> tuple[dict[str, Any],
                                                                    FileContent | None]:
    """A note's columns and its attachment (None when it has none, or when ``max_bytes``
    is None: not asked for); FatalError when the attachment is larger than ``max_bytes``."""
    path = "annotations" + odata.key_segment(note_id)
    note = await client.get_json(path, {"$select": NOTE_COLUMNS},
                                 {**headers, "Prefer": 'odata.include-annotations="*"'})
    size = int(note.get("filesize") or 0)
    if max_bytes is None or not note.get("filename"):
        return note, None
    if size > max_bytes:
        raise FatalError(f"{what}: the attachment of note {note_id} is {size_text(size)}, over "
                         f"the {size_text(max_bytes)} this step can carry")
    body = await client.get_json(path, {"$select": "documentbody"}, headers)
    data = decode_base64(str(body.get("documentbody") or ""), f"{what}: note {note_id}")
    name = str(note["filename"])
    return note, FileContent(name, str(note.get("mimetype") or mime_type_of(name)), data)


def decode_base64(text: str, where: str) -> bytes:
    """Bytes from base64 text (line breaks and spaces ignored); FatalError when it is not."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise FatalError(f"{where}: the content is not valid base64") from None
