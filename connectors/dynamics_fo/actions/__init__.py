"""The Dynamics 365 Finance & Operations actions, one module per family.

``records`` (create/update/upsert/delete/get by full key) · ``search`` (OData queries over
``$skip`` pages) · ``batch`` (``create_records`` via ``$batch``) · ``operations`` (OData
actions, raw requests) · ``common`` (entity and company params, the client, record output).
"""

from __future__ import annotations

from connectors.dynamics_fo.actions import batch, operations, records, search

ACTION_SPECS = (*records.SPECS, batch.SPEC, search.SPEC, *operations.SPECS)

__all__ = ["ACTION_SPECS"]
