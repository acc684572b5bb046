"""The Dynamics 365 (Dataverse) actions, one module per family.

``records`` (create/update/upsert/delete/get) · ``search`` (OData queries, FetchXML) ·
``relations`` (associate/disassociate) · ``operations`` (actions, functions, raw requests) ·
``batch`` (bulk messages and ``$batch``) · ``batch_wire`` (the ``$batch`` multipart format) ·
``schema`` (``get_schema``) · ``metadata`` (per-client table metadata cache) · ``values``
(lookups, option sets and formatted values in and out).
"""

from __future__ import annotations

from connectors.dynamics365.actions import batch, operations, records, relations, schema, search

ACTION_SPECS = (*records.SPECS, *search.SPECS, *relations.SPECS, *operations.SPECS,
                *schema.SPECS, batch.SPEC)

__all__ = ["ACTION_SPECS"]
