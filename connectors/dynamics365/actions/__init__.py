"""The Dynamics 365 (Dataverse) actions, one module per family.

``records`` (create/update/upsert/delete/get) · ``search`` (OData queries, FetchXML) ·
``relations`` (associate/disassociate) · ``operations`` (actions, functions, raw requests) ·
``batch`` (bulk messages and ``$batch``) · ``batch_wire`` (the ``$batch`` multipart format) ·
``schema`` (``get_schema``) · ``metadata`` (per-client table metadata cache) · ``values``
(lookups, option sets and formatted values in and out) · ``writes`` (how a write answers;
the create every action shares) · ``request_options`` (impersonation, ``If-Match``,
duplicate detection) · ``conditional`` (a refused ``If-Match`` and its repeats) · ``files``
(file and image columns) · ``notes`` (annotations) · ``content`` (where a file's bytes come
from and go) · ``transfer`` (uploads and downloads on the wire).
"""

from __future__ import annotations

from connectors.dynamics365.actions import (
    batch,
    files,
    notes,
    operations,
    records,
    relations,
    schema,
    search,
)

ACTION_SPECS = (*records.SPECS, *search.SPECS, *relations.SPECS, *operations.SPECS,
                *schema.SPECS, batch.SPEC, *files.SPECS, *notes.SPECS)

__all__ = ["ACTION_SPECS"]
