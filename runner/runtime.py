"""Connections at run time: turning each configured connection into the client object its
connector uses (``HttpClient``, ``DataverseClient``, ``FoClient``), and their token manager."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import aiohttp
from pydantic import BaseModel, SecretStr

from connectors.dynamics365.client import DataverseClient
from connectors.dynamics_fo import FoClient
from connectors.errors import RecipeError
from connectors.http import HttpClient
from connectors.proxy import ProxyPolicy
from runner.connections import (
    ConnectionsFile,
    Dynamics365Connection,
    DynamicsConnectionBase,
    DynamicsFoConnection,
    HttpConnection,
)
from runner.ops.metrics import METRICS
from runner.store import Store
from runner.tokens import TokenManager, key_file_for, load_fernet


def http_auth_headers(conn: HttpConnection) -> dict[str, str]:
    if conn.auth == "basic" and conn.username and conn.password:
        basic = aiohttp.BasicAuth(conn.username, conn.password.get_secret_value())
        return {"Authorization": basic.encode()}
    if conn.auth == "bearer" and conn.token:
        return {"Authorization": f"Bearer {conn.token.get_secret_value()}"}
    if conn.auth == "header" and conn.header_name and conn.header_value:
        return {conn.header_name: conn.header_value.get_secret_value()}
    return {}


def secret_values(connections: ConnectionsFile | None) -> list[str]:
    """Every secret in the connections file (each line of a multi-line one, such as a PEM
    private key, too), for the redactor."""
    if connections is None:
        return []
    values: list[str] = []
    for conn in connections.connections.values():
        for secret in _secrets_in(conn):
            text = secret.get_secret_value()
            values.append(text)
            values += [line for line in text.splitlines()[1:] if len(line) >= 20]
    return values


def _secrets_in(model: BaseModel) -> Iterator[SecretStr]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            yield value
        elif isinstance(value, BaseModel):
            yield from _secrets_in(value)


def needs_tokens(connections: ConnectionsFile | None) -> bool:
    """Whether any connection signs in with OAuth (Dataverse or F&O)."""
    return connections is not None and any(
        isinstance(conn, DynamicsConnectionBase) for conn in connections.connections.values())


def token_manager_for(connections: ConnectionsFile | None, store: Store,
                      state_url: str) -> TokenManager | None:
    """A token manager over ``store`` (not started: subscribe first, then ``start()``), or
    None when no connection needs one. The cache key lives beside the state."""
    if connections is None or not needs_tokens(connections):
        return None
    return TokenManager(connections, store, load_fernet(key_file_for(state_url)))


class ConnectionPool:
    """One client per connection name, built on first use, closed together."""

    def __init__(self, connections: ConnectionsFile | None,
                 tokens: TokenManager | None = None) -> None:
        self.connections = connections
        self.tokens = tokens
        self._clients: dict[str | None, Any] = {}
        self._sessions: list[aiohttp.ClientSession] = []
        self._dataverse: list[DataverseClient | FoClient] = []

    def get(self, name: str | None) -> Any:
        if name not in self._clients:
            self._clients[name] = self._build(name)
        return self._clients[name]

    def update(self, connections: ConnectionsFile | None,
               tokens: TokenManager | None) -> set[str]:
        """Adopt a re-read connections file; returns the names whose settings changed (or
        that were added or removed). Their clients are rebuilt on next use; the old ones
        stay open for steps still using them and are closed with the pool."""
        old = self.connections.connections if self.connections else {}
        new = connections.connections if connections else {}
        changed = {n for n in old.keys() | new.keys() if old.get(n) != new.get(n)}
        for name in changed:
            self._clients.pop(name, None)
        self.connections, self.tokens = connections, tokens
        return changed

    def _session(self, ca_bundle: object = None,
                 proxy: ProxyPolicy | None = None) -> aiohttp.ClientSession:
        ssl_ctx = ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle else True
        policy = proxy if proxy is not None else ProxyPolicy.from_environ()
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_ctx, limit=64),
                                        middlewares=(policy.aiohttp_middleware(),))
        self._sessions.append(session)
        return session

    def _build(self, name: str | None) -> Any:
        if name is None:
            return HttpClient(self._session())
        conn = self.connections.connections.get(name) if self.connections else None
        if conn is None:
            raise RecipeError(f"unknown connection {name!r}")
        if isinstance(conn, HttpConnection):
            return HttpClient(self._session(conn.ca_bundle, conn.proxy_policy),
                              base_url=str(conn.base_url),
                              headers=http_auth_headers(conn))
        if isinstance(conn, Dynamics365Connection) and self.tokens is not None:
            client = DataverseClient.open(conn.api_base_url, self.tokens.tokens(name),
                                          ca_bundle=conn.ca_bundle, throttle=conn.throttle,
                                          hooks=METRICS.connector_hooks(name),
                                          proxy=conn.proxy_policy)
            self._dataverse.append(client)
            return client
        if isinstance(conn, DynamicsFoConnection) and self.tokens is not None:
            fo = FoClient.open(conn.api_base_url, self.tokens.tokens(name),
                               ca_bundle=conn.ca_bundle, throttle=conn.throttle,
                               data_area=conn.data_area,
                               cross_company=conn.cross_company, proxy=conn.proxy_policy)
            fo.hooks = METRICS.connector_hooks(name)  # 429s and retries counted, as Dataverse
            self._dataverse.append(fo)
            return fo
        raise RecipeError(f"connection {name!r}: type {conn.type!r} is not supported yet")

    async def close(self) -> None:
        for client in self._dataverse:
            await client.close()
        for session in self._sessions:
            await session.close()
        self._dataverse.clear()
        self._sessions.clear()
        self._clients.clear()
