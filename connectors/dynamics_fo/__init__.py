"""The Dynamics 365 Finance & Operations (OData under ``/data/``) connector.

Module map: ``client`` (pooled session, OData headers, tokens, ``$skip`` paging, company
defaults) · ``errors`` (responses → the project's exceptions, ``innererror`` messages) ·
``metadata`` (entity keys and fields from ``$metadata``) · ``company`` (``data_area`` /
``cross_company`` for reads, full-key addresses) · ``triggers`` (``new_record``,
``new_or_updated_record`` with client-side keyset paging) · ``actions`` (records, search,
batch, operations).

Shared with the Dataverse connector, under ``connectors.odata``: the client base (session,
token, 401 renewal, send loop), the throttle, the retry policy, the error classification, the
OData escaping, the param types, the timestamp cursor and the record-action helpers; the
``$batch`` reader is the shared ``connectors.odata.batch_wire``.
"""

from __future__ import annotations

from connectors.dynamics_fo.actions import ACTION_SPECS
from connectors.dynamics_fo.client import FoClient, FoPage, FoResponse
from connectors.dynamics_fo.triggers import TRIGGER_SPECS

__all__ = ["ACTION_SPECS", "TRIGGER_SPECS", "FoClient", "FoPage", "FoResponse"]
