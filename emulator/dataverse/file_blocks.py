"""The file messages (reference: "Use file column data"): ``InitializeFileBlocksUpload``,
``UploadBlock``, ``CommitFileBlocksUpload``, ``InitializeFileBlocksDownload``,
``DownloadBlock`` and ``DeleteFile``, for file and image columns.

A continuation token names one upload (blocks kept by ``BlockId``, joined in ``BlockList``
order on commit) or one download.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from emulator.dataverse import access, errors, routes, writes
from emulator.dataverse.environment import Environment, environment
from emulator.dataverse.files import CHUNK_SIZE, FileStore, is_file_column
from emulator.dataverse.schema import Attribute, Table

NAMESPACE = "Microsoft.Dynamics.CRM."


@dataclass
class BlockUpload:
    table: Table
    record_id: str
    attr: Attribute
    filename: str
    blocks: dict[str, bytes] = field(default_factory=dict)


def register(env: Environment) -> None:
    uploads: dict[str, BlockUpload] = {}
    downloads: dict[str, tuple[Table, str, Attribute]] = {}

    async def initialize_upload(request: web.Request) -> web.StreamResponse:
        env, body = await _call(request)
        table, record_id, attr = _target(env, body, "Write")
        token = secrets.token_urlsafe(32)
        uploads[token] = BlockUpload(table, record_id, attr, _text(body, "FileName"))
        return _answer(request, "InitializeFileBlocksUploadResponse",
                       {"FileContinuationToken": token})

    async def upload_block(request: web.Request) -> web.StreamResponse:
        _, body = await _call(request)
        upload = _token(uploads, body)
        upload.blocks[_text(body, "BlockId")] = _base64(body, "BlockData")
        return routes.no_content()

    async def commit_upload(request: web.Request) -> web.StreamResponse:
        env, body = await _call(request)
        upload = _token(uploads, body)
        names = body.get("BlockList")
        if not isinstance(names, list) or any(n not in upload.blocks for n in names):
            raise errors.bad_query("BlockList must name the BlockId of every uploaded block.")
        content = b"".join(upload.blocks[n] for n in names)
        file_id = _files(env).put(upload.table, upload.record_id, upload.attr,
                                  str(body.get("FileName") or upload.filename), content,
                                  body.get("MimeType") or None)
        del uploads[str(body["FileContinuationToken"])]
        return _answer(request, "CommitFileBlocksUploadResponse",
                       {"FileId": file_id, "FileSizeInBytes": len(content)})

    async def initialize_download(request: web.Request) -> web.StreamResponse:
        env, body = await _call(request)
        table, record_id, attr = _target(env, body, "Read")
        stored = _files(env).get(table, record_id, attr)
        token = secrets.token_urlsafe(32)
        downloads[token] = (table, record_id, attr)
        return _answer(request, "InitializeFileBlocksDownloadResponse", {
            "FileSizeInBytes": len(stored.content), "FileName": stored.filename,
            "FileContinuationToken": token, "IsChunkingSupported": True})

    async def download_block(request: web.Request) -> web.StreamResponse:
        env, body = await _call(request)
        table, record_id, attr = _token(downloads, body)
        offset, length = int(body.get("Offset") or 0), int(body.get("BlockLength") or CHUNK_SIZE)
        content = _files(env).get(table, record_id, attr).content[offset:offset + length]
        return _answer(request, "DownloadBlockResponse",
                       {"Data": base64.b64encode(content).decode()})

    async def delete_file(request: web.Request) -> web.StreamResponse:
        env, body = await _call(request)
        table, record_id, attr = _files(env).by_id(_text(body, "FileId"))
        access.authorize(env, table, ("Write",))
        _files(env).delete(table, record_id, attr)
        return routes.no_content()

    env.operations.update({
        "InitializeFileBlocksUpload": initialize_upload, "UploadBlock": upload_block,
        "CommitFileBlocksUpload": commit_upload, "InitializeFileBlocksDownload":
        initialize_download, "DownloadBlock": download_block, "DeleteFile": delete_file})


def _files(env: Environment) -> FileStore:
    store: FileStore = env.files
    return store


async def _call(request: web.Request) -> tuple[Environment, dict[str, Any]]:
    if request.method != "POST":
        raise errors.DataverseError(405, errors.RESOURCE_NOT_FOUND, (
            f"The HTTP method '{request.method}' is not allowed for this resource."))
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise errors.bad_payload("", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise errors.bad_payload("", "The action parameters must be a JSON object.")
    return environment(request), body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise errors.bad_query(f"The parameter '{name}' is required.")
    return value


def _base64(body: dict[str, Any], name: str) -> bytes:
    try:
        return base64.b64decode(_text(body, name), validate=True)
    except (binascii.Error, ValueError):
        raise errors.bad_query(f"The parameter '{name}' is not valid base64.") from None


def _token(tokens: dict[str, Any], body: dict[str, Any]) -> Any:
    value = tokens.get(_text(body, "FileContinuationToken"))
    if value is None:
        raise errors.bad_query("The FileContinuationToken is not valid or has been used.")
    return value


def _target(env: Environment, body: dict[str, Any], kind: str) -> tuple[Table, str, Attribute]:
    target = body.get("Target")
    odata_type = str((target or {}).get("@odata.type", "")).lstrip("#").removeprefix(NAMESPACE)
    table = env.catalog.by_logical_name(odata_type)
    if not isinstance(target, dict) or table is None:
        raise errors.bad_query("Target must be an entity with its @odata.type and id.")
    attr = is_file_column(table, _text(body, "FileAttributeName"))
    if attr is None:
        raise errors.bad_query(f"'{body.get('FileAttributeName')}' is not a file or image "
                               f"column of '{table.logical_name}'.")
    access.authorize(env, table, (kind,))
    record_id = writes.require(env, table, str(target.get(table.primary_id, "")))
    return table, record_id, attr


def _answer(request: web.Request, complex_type: str, body: dict[str, Any]) -> web.Response:
    root = f"{request.url.origin()}/api/data/{request.match_info.get('version', 'v9.2')}"
    return routes.json_response({"@odata.context": f"{root}/$metadata#{NAMESPACE}{complex_type}",
                                 **body})
