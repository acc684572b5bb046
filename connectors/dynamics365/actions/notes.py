"""``attach_note`` and ``read_note``: notes (``annotation`` rows) about a record, with or
without a file.

A note is about one record (``objectid``, bound as ``objectid_<table>``) and has a subject,
a text and, optionally, a file: its bytes base64 in ``documentbody``, its name in
``filename`` and its type in ``mimetype`` (Dataverse then sets ``isdocument`` and
``filesize``). The file comes from the params as for ``upload_file``
(:mod:`~connectors.dynamics365.actions.content`). Dataverse limits attachments to the
organisation's ``MaxUploadFileSize`` (5 MB unless an administrator raised it, at most 128 MB)
and answers a larger one with ``0x80044a02``.

Repeats: the note's id is derived from the step identity, as ``create_record`` derives a
row's primary key, so a note sent again finds the note its first copy made.
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic import Field, field_validator, model_validator

from connectors.base import Params, StepContext
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
    sources_given,
)
from connectors.dynamics365.actions.files import check_file_name, described, file_name_field
from connectors.dynamics365.actions.metadata import table_info
from connectors.dynamics365.actions.records import RecordAddress, client_of
from connectors.dynamics365.actions.request_options import (
    IMPERSONATE,
    Impersonate,
    caller_headers,
    refusal,
)
from connectors.dynamics365.actions.transfer import TOO_BIG, read_note
from connectors.dynamics365.actions.values import LOOKUP_TABLE, to_payload
from connectors.dynamics365.actions.writes import Write, create_row
from connectors.errors import FatalError
from connectors.odata import escaping as odata
from connectors.odata.records import action_spec, missing

NOTES = "annotations"


class AttachNoteParams(RecordAddress):
    """The record the note is about (table and record_id or key), and the note."""

    subject: str | None = Field(None, description="The note's title.",
                                examples=["Signed contract"])
    note_text: str | None = Field(None, description="The note's text.",
                                  examples=["Received from {{ trigger.record.body.sender }}"])
    file_name: str | None = file_name_field("required with content_base64 or content_text")
    content_base64: str | None = CONTENT_BASE64
    content_text: str | None = CONTENT_TEXT
    copy_from: FileSource | None = COPY_FROM
    mime_type: str | None = MIME_TYPE
    impersonate: Impersonate | None = IMPERSONATE

    @field_validator("file_name")
    @classmethod
    def _file_name(cls, value: str | None) -> str | None:
        return check_file_name(value)

    @model_validator(mode="after")
    def _content(self) -> AttachNoteParams:
        given = sources_given(self)
        if given > 1:
            raise ValueError("give at most one of content_base64, content_text and copy_from")
        if given and self.copy_from is None and self.file_name is None:
            raise ValueError("give file_name with content_base64 or content_text")
        if not given and self.subject is None and self.note_text is None:
            raise ValueError("give a subject, a note_text or a file")
        return self


class ReadNoteParams(Params):
    note_id: str = Field(description="The note's id (annotationid).",
                         examples=["{{ trigger.record.annotationid }}"])
    include_content: bool = Field(True, description="Return the attached file's content "
                                  "(false: only its name, type and size).", examples=[False])
    as_text: bool = AS_TEXT
    impersonate: Impersonate | None = IMPERSONATE

    @field_validator("note_id")
    @classmethod
    def _guid(cls, value: str) -> str:
        return odata.guid(value)


async def attach_note(params: AttachNoteParams, ctx: StepContext) -> dict[str, Any]:
    """Create a note about the record; ``{"id", "file_name", "mime_type", "size_bytes"}``."""
    what = "attach_note"
    client = client_of(ctx)
    about = await table_info(client, params.table)
    notes = await table_info(client, NOTES)
    content = await content_of(client, params, caller_headers(params.impersonate), what)
    fields: dict[str, Any] = {"objectid": {"table": about.entity_set, "id": params.record_id,
                                           "key": params.key}}
    fields.update({k: v for k, v in (("subject", params.subject),
                                     ("notetext", params.note_text)) if v is not None})
    if content is not None:
        fields.update(filename=content.name, mimetype=content.mime_type,
                      documentbody=base64.b64encode(content.data).decode())
    body = await to_payload(client, notes, fields)
    response = await create_row(client, notes, body, ctx, Write(impersonate=params.impersonate),
                                what, lambda exc: _explained(exc, what, about.entity_set,
                                                             params))
    note_id = (response.body or {}).get(notes.primary_id)
    file = described(content)
    return {"id": note_id, **{k: v for k, v in file.items() if k != "found"}}


async def read_note_action(params: ReadNoteParams, ctx: StepContext) -> dict[str, Any]:
    """A note and its file; ``{"id", "subject", "note_text", "regarding", "file_name",
    "mime_type", "size_bytes", "content_base64" | "content_text"}``."""
    what = "read_note"
    client = client_of(ctx)
    limit = MAX_OUTPUT_BYTES if params.include_content else None
    try:
        note, file = await read_note(client, params.note_id, limit,
                                     caller_headers(params.impersonate), what)
    except FatalError as exc:
        said = refusal(exc, what, params.impersonate)
        raise said or missing(exc, what, f"note with id {params.note_id}") from exc
    regarding = note.get("_objectid_value")
    output: dict[str, Any] = {
        "id": note.get("annotationid"), "subject": note.get("subject"),
        "note_text": note.get("notetext"),
        "regarding": {"table": note.get(f"_objectid_value@{LOOKUP_TABLE}")
                      or note.get("objecttypecode"), "id": regarding} if regarding else None,
        "file_name": note.get("filename") or None, "mime_type": note.get("mimetype") or None,
        "size_bytes": note.get("filesize") if note.get("filename") else None}
    if params.include_content:
        output.update(content_output(file, params.as_text, what))
    return output


def _explained(exc: FatalError, what: str, table: str, params: AttachNoteParams) -> FatalError:
    said = refusal(exc, what, params.impersonate)
    if said is not None:
        return said
    if (exc.code or "").lower() == TOO_BIG:
        return FatalError(f"{what}: the file is larger than this organisation allows for "
                          f"attachments (its MaxUploadFileSize) ({exc.message})",
                          status=exc.status, code=exc.code)
    named = f"{table} record " + (f"with id {params.record_id}" if params.record_id
                                  else f"with key {params.key}")
    return missing(exc, what, named)


SPECS = (
    action_spec("dynamics365", "attach_note", AttachNoteParams, attach_note,
                "Add a note (annotation) about a Dataverse record, with or without a file.",
                "keyed", "the note's id is derived from the step identity, so a note sent "
                "again finds the note its first copy made (no second note)"),
    action_spec("dynamics365", "read_note", ReadNoteParams, read_note_action,
                "Read a Dataverse note (annotation): its text and its attached file.",
                "natural", "reads only"),
)
