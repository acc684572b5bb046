"""The connections file: named Dynamics 365 / Finance & Operations / HTTP endpoints and their auth.

* `models`: typed connections with derived URLs and scopes; `connections_json_schema()`.
* `fields`: host, URL, redirect and file field types.
* `rules`: which fields each auth flow and account type needs.
* `loader`: `load_connections(path)` -> `ConnectionsFile`, or `ConfigError` with every problem.
"""

from __future__ import annotations

from runner.connections.loader import ConnectionsCheck, check_connections, load_connections
from runner.connections.models import (
    CONNECTION_MODELS,
    DEFAULT_AUTHORITY_HOST,
    Connection,
    ConnectionsFile,
    Dynamics365Connection,
    DynamicsConnection,
    DynamicsConnectionBase,
    DynamicsFoConnection,
    HttpConnection,
    OAuthProfile,
    connections_json_schema,
)

__all__ = [
    "CONNECTION_MODELS",
    "DEFAULT_AUTHORITY_HOST",
    "Connection",
    "ConnectionsCheck",
    "ConnectionsFile",
    "Dynamics365Connection",
    "DynamicsConnection",
    "DynamicsConnectionBase",
    "DynamicsFoConnection",
    "HttpConnection",
    "OAuthProfile",
    "check_connections",
    "connections_json_schema",
    "load_connections",
]
