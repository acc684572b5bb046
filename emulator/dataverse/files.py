"""File and image columns: upload in one request or in chunks, download whole or by range,
delete (reference: "Use file column data", "Use image column data").

* ``PATCH <set>(<id>)/<column>`` with ``Content-Type: application/octet-stream`` and
  ``x-ms-file-name`` (header, or query parameter) stores the file: 204.
* The same PATCH with ``x-ms-transfer-mode: chunked`` and no body starts a chunked upload:
  200 with ``Location: …/<column>?sessiontoken=…``, ``x-ms-chunk-size: 4194304`` and
  ``Accept-Ranges: bytes``; each ``PATCH <Location>`` with ``Content-Range: bytes a-b/size``
  answers 206, the last one 204.
* ``GET <set>(<id>)/<column>/$value``: 200 with ``x-ms-file-size``, ``x-ms-file-name`` and
  ``mimetype``; with ``Range: bytes=a-b``, 206 and that part (plus ``x-ms-chunk-size``).
* ``DELETE <set>(<id>)/<column>`` removes it.

The row's column holds the file's id, and ``<column>_name`` its name, as Dataverse returns
them. A file larger than the column's ``MaxSizeInKB`` is ``0x80044a02`` "Attachment file size
is too big.". Contents live in the ``dv_file`` table (base64 text).
"""

from __future__ import annotations

import base64
import mimetypes
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from emulator.dataverse import errors, writes
from emulator.dataverse.schema import Attribute, AttributeType, Table

if TYPE_CHECKING:
    from emulator.dataverse.environment import Environment

CHUNK_SIZE = 4 * 1024 * 1024
TOO_BIG = "0x80044a02"
NO_FILE = "0x80060891"
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_WANTED = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass
class Upload:
    table: Table
    record_id: str
    attr: Attribute
    filename: str
    received: bytearray = field(default_factory=bytearray)


@dataclass
class StoredFile:
    fileid: str
    filename: str
    mimetype: str
    content: bytes


class FileStore:
    """The files of one environment and the chunked uploads in progress."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.uploads: dict[str, Upload] = {}

    def put(self, table: Table, record_id: str, attr: Attribute, filename: str,
            content: bytes, mimetype: str | None = None) -> str:
        limit_kb = attr.max_size_kb or 32768
        if len(content) > limit_kb * 1024:
            raise errors.DataverseError(400, TOO_BIG, "Attachment file size is too big.")
        file_id = str(uuid.uuid4())
        kind = mimetype or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        with self.env.storage.store.transaction() as db:
            self._remove(db, table, record_id, attr)
            db.execute("INSERT INTO dv_file VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (
                file_id, table.logical_name, record_id, attr.name, filename, kind,
                len(content), base64.b64encode(content).decode()))
            self.env.storage.update(table, record_id, {attr.column: file_id,
                                                       f"{attr.name}_name": filename})
        return file_id

    def get(self, table: Table, record_id: str, attr: Attribute) -> StoredFile:
        row = self.env.storage.db.execute(
            "SELECT fileid, filename, mimetype, content FROM dv_file WHERE logical_name = ? "
            "AND record_id = ? AND column_name = ?",
            (table.logical_name, record_id, attr.name)).fetchone()
        if row is None:
            raise errors.DataverseError(404, NO_FILE, (
                f"No file attachment found for attribute: {attr.name} EntityId: {record_id}."))
        return StoredFile(row[0], row[1], row[2], base64.b64decode(row[3]))

    def by_id(self, file_id: str) -> tuple[Table, str, Attribute]:
        row = self.env.storage.db.execute(
            "SELECT logical_name, record_id, column_name FROM dv_file WHERE fileid = ?",
            (file_id.lower(),)).fetchone()
        table = self.env.catalog.by_logical_name(row[0]) if row else None
        if row is None or table is None:
            raise errors.DataverseError(404, NO_FILE, f"No file with id {file_id} exists.")
        return table, str(row[1]), table.attributes[row[2]]

    def delete(self, table: Table, record_id: str, attr: Attribute) -> None:
        self.get(table, record_id, attr)  # 404 when there is none
        with self.env.storage.store.transaction() as db:
            self._remove(db, table, record_id, attr)
            self.env.storage.update(table, record_id, {attr.column: None,
                                                       f"{attr.name}_name": None})

    @staticmethod
    def _remove(db: object, table: Table, record_id: str, attr: Attribute) -> None:
        db.execute("DELETE FROM dv_file WHERE logical_name = ? AND record_id = ? AND "  # type: ignore[attr-defined]
                   "column_name = ?", (table.logical_name, record_id, attr.name))

    def start(self, table: Table, record_id: str, attr: Attribute, filename: str) -> str:
        token = secrets.token_urlsafe(32)
        self.uploads[token] = Upload(table, record_id, attr, filename)
        return token


def is_file_column(table: Table, name: str) -> Attribute | None:
    attr = table.attributes.get(name)
    return attr if attr is not None and attr.type in (AttributeType.FILE,
                                                      AttributeType.IMAGE) else None


async def column_route(env: Environment, request: web.Request, table: Table, key: str,
                       attr: Attribute, value_segment: bool) -> web.Response:
    record_id = writes.require(env, table, key)
    store: FileStore = env.files
    if request.method == "GET" and value_segment:
        return _download(request, store.get(table, record_id, attr))
    if request.method == "DELETE" and not value_segment:
        store.delete(table, record_id, attr)
        return _empty(204)
    if request.method == "PATCH" and not value_segment:
        return await _upload(request, store, table, record_id, attr)
    raise errors.DataverseError(405, errors.RESOURCE_NOT_FOUND, (
        f"The HTTP method '{request.method}' is not allowed for this resource."))


def _empty(status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, headers={**errors.ODATA_HEADERS, **(headers or {})})


def _file_name(request: web.Request) -> str:
    name = request.headers.get("x-ms-file-name") or request.query.get("x-ms-file-name")
    if not name:
        raise errors.bad_query("Set the file name with the x-ms-file-name header or query "
                               "parameter.")
    return name


async def _upload(request: web.Request, store: FileStore, table: Table, record_id: str,
                  attr: Attribute) -> web.Response:
    token = request.query.get("sessiontoken")
    if token is not None:
        return await _chunk(request, store, token)
    if request.headers.get("x-ms-transfer-mode", "").lower() == "chunked":
        session = store.start(table, record_id, attr, _file_name(request))
        location = request.url.with_query({"sessiontoken": session})
        return web.Response(status=200, headers={
            **errors.ODATA_HEADERS, "Location": str(location), "Accept-Ranges": "bytes",
            "x-ms-chunk-size": str(CHUNK_SIZE),
            "Access-Control-Expose-Headers": "x-ms-chunk-size"})
    store.put(table, record_id, attr, _file_name(request), await request.read(),
              request.headers.get("Content-Type") if _is_typed(request) else None)
    return _empty(204)


def _is_typed(request: web.Request) -> bool:
    return request.headers.get("Content-Type", "") not in ("", "application/octet-stream")


async def _chunk(request: web.Request, store: FileStore, token: str) -> web.Response:
    upload = store.uploads.get(token)
    if upload is None:
        raise errors.bad_query("The sessiontoken is not a chunked upload in progress.")
    match = _RANGE.match(request.headers.get("Content-Range", ""))
    body = await request.read()
    if match is None:
        raise errors.bad_query("Each chunk needs Content-Range: bytes <start>-<end>/<size>.")
    start, end, total = (int(g) for g in match.groups())
    if start != len(upload.received) or end - start + 1 != len(body) or end >= total:
        raise errors.bad_query(f"The chunk {start}-{end}/{total} does not continue the upload "
                               f"at byte {len(upload.received)}.")
    upload.received.extend(body)
    if len(upload.received) < total:
        return _empty(206)
    del store.uploads[token]
    store.put(upload.table, upload.record_id, upload.attr, upload.filename,
              bytes(upload.received))
    return _empty(204)


def _download(request: web.Request, stored: StoredFile) -> web.Response:
    headers = {**errors.ODATA_HEADERS, "x-ms-file-size": str(len(stored.content)),
               "x-ms-file-name": stored.filename, "mimetype": stored.mimetype,
               "Access-Control-Expose-Headers": "x-ms-file-size; x-ms-file-name; mimetype"}
    wanted = _WANTED.match(request.headers.get("Range", ""))
    if wanted is None:
        return web.Response(body=stored.content, headers=headers,
                            content_type="application/octet-stream")
    start = int(wanted.group(1))
    end = min(int(wanted.group(2) or len(stored.content) - 1), len(stored.content) - 1)
    headers["x-ms-chunk-size"] = str(CHUNK_SIZE)
    headers["Access-Control-Expose-Headers"] += "; x-ms-chunk-size"
    return web.Response(status=206, body=stored.content[start:end + 1], headers=headers,
                        content_type="application/octet-stream")
