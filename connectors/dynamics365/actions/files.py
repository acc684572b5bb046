"""``upload_file`` and ``download_file``: the file and image columns of a record.

A column is named by its logical name (``new_contract``); the step checks that it is a file
or image column of the table and, before uploading, that the file fits its ``MaxSizeInKB``.
How the bytes travel (one request or chunks) is :mod:`~connectors.dynamics365.actions.transfer`;
where an upload's bytes come from and how a download's come back is
:mod:`~connectors.dynamics365.actions.content`.

Repeats: an upload to the same column replaces its file, so running the step again stores
the same file again (nothing else changes); an upload cut short leaves the previous file in
place. A download only reads.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from connectors.base import StepContext
from connectors.dynamics365.actions.content import (
    AS_TEXT,
    CONTENT_BASE64,
    CONTENT_TEXT,
    COPY_FROM,
    MAX_OUTPUT_BYTES,
    MIME_TYPE,
    FileSource,
    content_of,
    content_output,
    record_id_of,
    sources_given,
)
from connectors.dynamics365.actions.metadata import TableInfo, table_info
from connectors.dynamics365.actions.records import RecordAddress, client_of
from connectors.dynamics365.actions.request_options import (
    IMPERSONATE,
    Impersonate,
    caller_headers,
)
from connectors.dynamics365.actions.transfer import (
    BLOCK_MAX_BYTES,
    TOO_BIG,
    FileColumn,
    FileContent,
    Target,
    download,
    file_column,
    size_text,
    upload,
)
from connectors.dynamics365.actions.writes import refused
from connectors.errors import FatalError
from connectors.odata.records import action_spec, missing

COLUMN = Field(description="The file or image column (logical name).",
               examples=["new_contract"])
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def file_name_field(required: str) -> Any:
    return Field(None, description=f"The file's name, e.g. contract.pdf ({required}).",
                 examples=["contract-{{ trigger.record.name }}.pdf"])


def check_file_name(value: str | None) -> str | None:
    if value is None:
        return None
    name = value.strip()
    if not name or len(name) > 255 or _CONTROL.search(name):
        raise ValueError("a file name needs 1 to 255 characters and no control characters")
    return name


class UploadFileParams(RecordAddress):
    column: str = COLUMN
    file_name: str | None = file_name_field("required unless copy_from gives it")
    content_base64: str | None = CONTENT_BASE64
    content_text: str | None = CONTENT_TEXT
    copy_from: FileSource | None = COPY_FROM
    mime_type: str | None = MIME_TYPE
    chunk_size_kb: int = Field(4096, ge=1, le=4096, description=(
        "Files larger than this go in chunks of this size (the block messages); 4096 KB is "
        "Dataverse's largest block."), examples=[1024])
    impersonate: Impersonate | None = IMPERSONATE

    @field_validator("file_name")
    @classmethod
    def _file_name(cls, value: str | None) -> str | None:
        return check_file_name(value)

    @model_validator(mode="after")
    def _one_source(self) -> UploadFileParams:
        if sources_given(self) != 1:
            raise ValueError("give exactly one of content_base64, content_text and copy_from")
        if self.copy_from is None and self.file_name is None:
            raise ValueError("give file_name with content_base64 or content_text")
        return self


class DownloadFileParams(RecordAddress):
    column: str = COLUMN
    as_text: bool = AS_TEXT
    thumbnail: bool = Field(False, description="An image column's thumbnail instead of the "
                            "full-size image.", examples=[True])
    missing_ok: bool = Field(False, description="An empty column is not an error (found: "
                             "false).", examples=[True])
    impersonate: Impersonate | None = IMPERSONATE


async def upload_file(params: UploadFileParams, ctx: StepContext) -> dict[str, Any]:
    """Store a file in the column; ``{"id", "file_id", "file_name", "mime_type",
    "size_bytes", "chunks"}``."""
    what = "upload_file"
    client = client_of(ctx)
    headers = caller_headers(params.impersonate)
    info = await table_info(client, params.table)
    column = await file_column(client, info, params.column, what)
    content = await content_of(client, params, headers, what)
    assert content is not None  # the params give exactly one source
    _fits(info, column, content)
    try:
        target = Target(info, await record_id_of(client, info, params, headers), column,
                        headers)
        uploaded = await upload(client, target, content, params.chunk_size_kb * 1024)
    except FatalError as exc:
        raise _explained(exc, what, info, params) from exc
    return {"id": target.record_id, "file_id": uploaded.file_id, "file_name": content.name,
            "mime_type": content.mime_type, "size_bytes": len(content.data),
            "chunks": uploaded.chunks}


async def download_file(params: DownloadFileParams, ctx: StepContext) -> dict[str, Any]:
    """The column's file; ``{"id", "found", "file_name", "mime_type", "size_bytes",
    "content_base64" | "content_text"}``."""
    what = "download_file"
    client = client_of(ctx)
    headers = caller_headers(params.impersonate)
    info = await table_info(client, params.table)
    column = await file_column(client, info, params.column, what)
    try:
        target = Target(info, await record_id_of(client, info, params, headers), column,
                        headers)
        found = await download(client, target, MAX_OUTPUT_BYTES, BLOCK_MAX_BYTES,
                               params.thumbnail, what)
    except FatalError as exc:
        raise _explained(exc, what, info, params) from exc
    if found is None and not params.missing_ok:
        raise FatalError(f"{what}: {info.entity_set}({target.record_id}).{column.name} holds "
                         "no file (set missing_ok to carry on)", status=404)
    return {"id": target.record_id, **described(found),
            **content_output(found, params.as_text, what)}


def described(content: FileContent | None) -> dict[str, Any]:
    """``found``, ``file_name``, ``mime_type`` and ``size_bytes`` of a step's output."""
    if content is None:
        return {"found": False, "file_name": None, "mime_type": None, "size_bytes": None}
    return {"found": True, "file_name": content.name, "mime_type": content.mime_type,
            "size_bytes": len(content.data)}


def _fits(info: TableInfo, column: FileColumn, content: FileContent) -> None:
    limit_kb = column.max_size_kb
    if limit_kb and len(content.data) > limit_kb * 1024:
        raise FatalError(f"upload_file: the file is {size_text(len(content.data))}; "
                         f"{info.logical_name}.{column.name} takes at most {limit_kb} KB "
                         "(its MaxSizeInKB)")


def _explained(exc: FatalError, what: str, info: TableInfo,
               address: RecordAddress) -> FatalError:
    if (exc.code or "").lower() == TOO_BIG:
        return FatalError(f"{what}: the file is larger than the column accepts "
                          f"({exc.message})", status=exc.status, code=exc.code)
    error = refused(exc, what, getattr(address, "impersonate", None))
    if error is not exc:
        return error
    named = f"{info.entity_set} record " + (f"with id {address.record_id}" if address.record_id
                                            else f"with key {address.key}")
    return missing(exc, what, named)


SPECS = (
    action_spec("dynamics365", "upload_file", UploadFileParams, upload_file,
                "Store a file in a Dataverse file or image column (chunked when large).",
                "natural", "uploading to the same column again replaces its file with the "
                "same one"),
    action_spec("dynamics365", "download_file", DownloadFileParams, download_file,
                "Read the file in a Dataverse file or image column (in chunks).", "natural",
                "reads only"),
)
