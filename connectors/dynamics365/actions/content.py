"""Where a file's bytes come from in a recipe, and how they come back in a step's output.

**In** (``upload_file``, ``attach_note``), exactly one of:

* ``content_base64``: base64 text, e.g. a webhook's ``{{ trigger.record.body.file }}``, a
  note's ``documentbody`` a trigger delivered, or a ``download_file`` step's
  ``{{ steps.doc.content_base64 }}``;
* ``content_text``: text, usually rendered by a template (a CSV, a JSON document), stored
  as UTF-8;
* ``copy_from``: a file already in Dataverse, in a file or image column of a record or a
  note's attachment. The step reads it itself, so a large file never passes through
  templates, step outputs or the job history.

A local path or a URL is deliberately not a source: a recipe could then read the daemon's
own files (its secrets, its state) or fetch from any host the daemon can reach.

**Bounds.** A file is at most 32 MiB (:data:`MAX_FILE_BYTES`, the default limit of a
Dataverse file column); the column's own ``MaxSizeInKB`` is checked before sending.
**Out** (``download_file``, ``read_note``), the bytes come back in the step's output as
``content_base64`` (or ``content_text``), which the job history keeps and which the engine
cuts above 64,000 characters of JSON; so at most 45 KiB (:data:`MAX_OUTPUT_BYTES`) is
returned, and a larger file fails the step naming its size (``copy_from`` moves it instead).
"""

from __future__ import annotations

import base64
from typing import Any, Protocol

from pydantic import Field, model_validator

from connectors.base import Params
from connectors.dynamics365.actions.metadata import TableInfo, table_info
from connectors.dynamics365.actions.records import KeyValue
from connectors.dynamics365.actions.transfer import (
    BLOCK_MAX_BYTES,
    FileContent,
    Target,
    decode_base64,
    download,
    file_column,
    mime_type_of,
    read_note,
    size_text,
)
from connectors.dynamics365.actions.values import record_key
from connectors.dynamics365.client import DataverseClient
from connectors.errors import FatalError
from connectors.odata import escaping as odata
from connectors.odata.records import missing

MAX_FILE_BYTES = 32 * 1024 * 1024
# Step outputs are kept up to 64,000 characters of JSON (runner.engine.job): 45 KiB of bytes
# is 61,440 characters of base64, leaving room for the other fields.
MAX_OUTPUT_BYTES = 45 * 1024

CONTENT_BASE64 = Field(
    None, description="The file as base64 text (e.g. from a webhook body or another step); "
    "a file is at most 32 MiB.", examples=["{{ trigger.record.body.file_base64 }}"])
CONTENT_TEXT = Field(None, description="The file as text, stored as UTF-8 (e.g. a CSV "
                     "rendered by a template).", examples=["id,name\n1,Contoso\n"])
MIME_TYPE = Field(None, description="The file's MIME type (default: from the file name, "
                  "or the copied file's).", examples=["application/pdf"])
AS_TEXT = Field(False, description="Return the content as UTF-8 text (content_text) "
                "instead of base64 (content_base64).", examples=[True])


class FileSource(Params):
    """A file already in Dataverse: a record's file or image column, or a note's attachment."""

    table: str | None = Field(None, description="The record's table.", examples=["accounts"])
    record_id: str | None = Field(None, description="The record's id.", examples=["<guid>"])
    key: dict[str, KeyValue] | None = Field(None, description="Or its alternate key.",
                                            examples=[{"accountnumber": "A-1"}])
    column: str | None = Field(None, description="Its file or image column.",
                               examples=["new_contract"])
    note_id: str | None = Field(None, description="Or a note (annotation) whose attachment "
                                "to copy, instead of table/record/column.", examples=["<guid>"])

    # GUIDs are checked when the step runs: inside this map they are usually templates,
    # which ``validate`` cannot render.

    @model_validator(mode="after")
    def _one_source(self) -> FileSource:
        record = self.table is not None or self.column is not None
        if self.note_id is not None:
            if record or self.record_id is not None or self.key:
                raise ValueError("give note_id alone, or table, record_id (or key) and column")
        elif self.table is None or self.column is None or \
                (self.record_id is None) == (not self.key):
            raise ValueError("give table, column and one of record_id and key (or note_id)")
        return self


COPY_FROM = Field(None, description="Copy a file already in Dataverse: {table, record_id | "
                  "key, column} or {note_id}; it never passes through templates or the job "
                  "history.",
                  examples=[{"table": "opportunities", "record_id": "<guid>",
                             "column": "new_contract"}])


class Sourced(Protocol):
    """The params of an action that takes content (see the module docstring)."""

    content_base64: str | None
    content_text: str | None
    copy_from: FileSource | None
    file_name: str | None
    mime_type: str | None


def sources_given(params: Any) -> int:
    return sum(getattr(params, n) is not None for n in ("content_base64", "content_text",
                                                         "copy_from"))


async def content_of(client: DataverseClient, params: Sourced, headers: dict[str, str],
                     what: str) -> FileContent | None:
    """The bytes, name and type the params give (None when they give no content)."""
    if params.copy_from is not None:
        copied = await read_source(client, params.copy_from, headers, f"{what}: copy_from")
        name = params.file_name or copied.name
        return _bounded(FileContent(name, params.mime_type or copied.mime_type, copied.data),
                        what)
    if params.content_base64 is not None:
        data = decode_base64(params.content_base64, f"{what}: content_base64")
    elif params.content_text is not None:
        data = params.content_text.encode("utf-8")
    else:
        return None
    if not params.file_name:
        raise FatalError(f"{what}: give file_name with the content")
    return _bounded(FileContent(params.file_name, params.mime_type
                                or mime_type_of(params.file_name), data), what)


def _bounded(content: FileContent, what: str) -> FileContent:
    if len(content.data) > MAX_FILE_BYTES:
        raise FatalError(f"{what}: the file is {size_text(len(content.data))}, over the "
                         f"{size_text(MAX_FILE_BYTES)} a step moves")
    return content


async def read_source(client: DataverseClient, source: FileSource, headers: dict[str, str],
                      what: str) -> FileContent:
    """The file ``source`` names; FatalError when there is none."""
    if source.note_id is not None:
        try:
            note_id = odata.guid(source.note_id)
        except ValueError as exc:
            raise FatalError(f"{what}: note_id: {exc}") from None
        try:
            _, attached = await read_note(client, note_id, MAX_FILE_BYTES, headers, what)
        except FatalError as exc:
            raise missing(exc, what, f"note with id {source.note_id}") from exc
        if attached is None:
            raise FatalError(f"{what}: note {source.note_id} has no attachment to copy")
        return attached
    assert source.table is not None and source.column is not None
    info = await table_info(client, source.table)
    column = await file_column(client, info, source.column, what)
    try:
        target = Target(info, await record_id_of(client, info, source, headers), column,
                        headers)
        found = await download(client, target, MAX_FILE_BYTES, BLOCK_MAX_BYTES, False, what)
    except FatalError as exc:
        raise missing(exc, what, f"{info.entity_set} record " + (
            f"with id {source.record_id}" if source.record_id else f"with key {source.key}")
        ) from exc
    if found is None:
        raise FatalError(f"{what}: {info.entity_set}({target.record_id}).{source.column} "
                         "holds no file to copy")
    return found


async def record_id_of(client: DataverseClient, info: TableInfo, address: Any,
                       headers: dict[str, str]) -> str:
    """The primary id of the record ``address`` names (by ``record_id`` or ``key``)."""
    if address.record_id is not None:
        try:
            return odata.guid(address.record_id)
        except ValueError as exc:
            raise FatalError(f"record_id: {exc}") from None
    path = info.entity_set + record_key(None, address.key)
    row = await client.get_json(path, {"$select": info.primary_id}, headers)
    return str(row[info.primary_id])


def content_output(content: FileContent | None, as_text: bool, what: str) -> dict[str, Any]:
    """``content_base64`` (or ``content_text``) of a step's output, bounded."""
    if content is None:
        return {"content_text" if as_text else "content_base64": None}
    if len(content.data) > MAX_OUTPUT_BYTES:
        raise FatalError(f"{what}: the file is {size_text(len(content.data))}, over the "
                         f"{size_text(MAX_OUTPUT_BYTES)} a step's output carries (use "
                         "copy_from of upload_file or attach_note to move it)")
    if not as_text:
        return {"content_base64": base64.b64encode(content.data).decode()}
    try:
        return {"content_text": content.data.decode("utf-8-sig")}
    except UnicodeDecodeError:
        raise FatalError(f"{what}: {content.name} is not UTF-8 text; leave as_text off to "
                         "get it as base64") from None

