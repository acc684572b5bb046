"""What the Dynamics 365 connectors (Dataverse, ``connectors.dynamics365``; Finance &
Operations, ``connectors.dynamics_fo``) share: OData over aiohttp with a bearer token.

Module map: ``client`` (``ODataClient``: pooled session, OData headers, token and 401
renewal, the send loop) · ``throttle`` (shared 429 pause, concurrency and rate caps) ·
``retry`` (backoff with jitter, Retry-After) · ``errors`` (answers and transport failures →
the project's exceptions) · ``paging`` (value lists, paging loops) · ``escaping`` (names and
literals in URLs and ``$filter``) · ``params`` (param types: entity sets, columns, ``since``
and the other timestamp-trigger params) · ``cursor`` (pure timestamp-cursor logic) ·
``polling`` (a poll's opening cursor, event batches) · ``records`` (record-action helpers).

Connectors import from here; nothing here imports a connector.
"""

from __future__ import annotations

from connectors.odata.client import ClientHooks, ODataClient, Outgoing
from connectors.odata.retry import RetryPolicy
from connectors.odata.throttle import ConnectionThrottle, ThrottleSettings

__all__ = [
    "ClientHooks",
    "ConnectionThrottle",
    "ODataClient",
    "Outgoing",
    "RetryPolicy",
    "ThrottleSettings",
]
