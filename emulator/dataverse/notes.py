"""What Dataverse works out for a note (``annotation``) when it is written: from
``documentbody`` (base64) its ``filesize`` and ``isdocument``, from ``objectid`` its
``objecttypecode``. A ``documentbody`` that is not base64 is a 400."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from emulator.dataverse import errors
from emulator.dataverse.schema import Table

Value = str | int | float | None


def on_write(table: Table, values: Mapping[str, Value]) -> Mapping[str, Value]:
    if table.logical_name != "annotation":
        return values  # no copy: this runs for every row written
    row = dict(values)
    if "documentbody" in row:
        body = row["documentbody"]
        size = _size(str(body)) if body else None
        row.update(filesize=size, isdocument=int(size is not None))
    if "_objectid_type" in row:
        row["objecttypecode"] = row["_objectid_type"]
    return row


def _size(text: str) -> int:
    try:
        return len(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise errors.bad_payload("annotations", (
            "The value of 'documentbody' must be the attachment's bytes, base64.")) from None
