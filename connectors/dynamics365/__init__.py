"""The Dynamics 365 (Dataverse Web API) connector.

Module map: ``client`` (the Web API client on :mod:`connectors.odata`'s: nextLink paging
with prefetch, primary keys) · ``errors`` (Dataverse's error bodies) · ``triggers``
(``new_record``, ``new_or_updated_record``) · ``changes`` (``changes``, ``deleted_record``:
change tracking) · ``actions``. ``retry``, ``odata`` (escaping) and ``cursor`` re-export
their shared modules under :mod:`connectors.odata`, where the throttle also lives.
"""

from __future__ import annotations

from connectors.dynamics365.changes import CHANGES_SPEC, DELETED_RECORD_SPEC
from connectors.dynamics365.client import (
    DataverseClient,
    DataverseResponse,
    ODataPage,
    api_base_url,
)
from connectors.dynamics365.triggers import NEW_OR_UPDATED_RECORD_SPEC, NEW_RECORD_SPEC
from connectors.odata.retry import RetryPolicy
from connectors.odata.throttle import ConnectionThrottle, ThrottleSettings

TRIGGER_SPECS = (NEW_RECORD_SPEC, NEW_OR_UPDATED_RECORD_SPEC, CHANGES_SPEC, DELETED_RECORD_SPEC)

__all__ = [
    "TRIGGER_SPECS",
    "ConnectionThrottle",
    "DataverseClient",
    "DataverseResponse",
    "ODataPage",
    "RetryPolicy",
    "ThrottleSettings",
    "api_base_url",
]
