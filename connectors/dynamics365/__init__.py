"""The Dynamics 365 (Dataverse Web API) connector.

Module map: ``client`` (pooled session, OData headers, tokens, paging) · ``errors`` (responses
→ the project's exceptions) · ``throttle`` (shared 429 pause, concurrency and rate caps) ·
``retry`` (backoff with jitter, Retry-After) · ``odata`` (escaping) · ``cursor`` (pure
timestamp-cursor logic) · ``triggers`` (``new_record``, ``new_or_updated_record``) ·
``changes`` (``changes``, ``deleted_record``: change tracking).
"""

from __future__ import annotations

from connectors.dynamics365.changes import CHANGES_SPEC, DELETED_RECORD_SPEC
from connectors.dynamics365.client import (
    DataverseClient,
    DataverseResponse,
    ODataPage,
    api_base_url,
)
from connectors.dynamics365.retry import RetryPolicy
from connectors.dynamics365.throttle import ConnectionThrottle, ThrottleSettings
from connectors.dynamics365.triggers import NEW_OR_UPDATED_RECORD_SPEC, NEW_RECORD_SPEC

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
