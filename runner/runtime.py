"""Connections at run time: each configured connection turned into the client object its
steps use, by the factory its connection type registered (``connectors.base.
ConnectionTypeSpec``); the core knows no connector by name. Also the token manager of the
connections that sign in with OAuth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, SecretStr

from connectors.base import ClientContext, ConnectionTypeSpec, Registry
from connectors.catalog import default_registry
from connectors.errors import RecipeError
from connectors.proxy import ProxyPolicy
from runner.connections import ConnectionsFile, DynamicsConnectionBase
from runner.ops.metrics import METRICS
from runner.store import Store
from runner.tokens import TokenManager, key_file_for, load_fernet


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
    """One client per connection name, built on first use by its connection type's factory,
    closed together."""

    def __init__(self, connections: ConnectionsFile | None,
                 tokens: TokenManager | None = None, registry: Registry | None = None,
                 purpose: str = "run") -> None:
        self.connections = connections
        self.tokens = tokens
        self.registry = registry
        self.purpose = purpose
        self._clients: dict[str | None, Any] = {}
        self._built: list[Any] = []  # every client made, old ones too, for close()

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

    def connection_type(self, type_key: str) -> ConnectionTypeSpec | None:
        registry = self.registry or default_registry()
        found = registry.connection_types.get(type_key)
        if found is None and registry is not default_registry():
            found = default_registry().connection_types.get(type_key)
        return found

    def _build(self, name: str | None) -> Any:
        if name is None:
            return self._anonymous()
        conn = self.connections.connections.get(name) if self.connections else None
        if conn is None:
            raise RecipeError(f"unknown connection {name!r}")
        spec = self.connection_type(conn.type)
        if spec is None:
            raise RecipeError(f"connection {name!r}: no installed connector provides type "
                              f"{conn.type!r} (see `recipe-runner connectors list`)")
        tokens = None
        if spec.uses_tokens:
            if self.tokens is None or not isinstance(conn, DynamicsConnectionBase):
                raise RecipeError(f"connection {name!r}: type {conn.type!r} signs in with "
                                  "OAuth, which needs a Dynamics-style connection")
            tokens = self.tokens.tokens(name)
        proxy = getattr(conn, "proxy_policy", None) or ProxyPolicy.from_environ()
        context = ClientContext(name, conn, proxy, tokens, METRICS.connector_hooks(name),
                                "check" if self.purpose == "check" else "run")
        return self._keep(spec.client(context))

    def _anonymous(self) -> Any:
        registry = self.registry or default_registry()
        spec = registry.anonymous_type() or default_registry().anonymous_type()
        if spec is None:
            return None
        return self._keep(spec.client(ClientContext(None, None, ProxyPolicy.from_environ())))

    def _keep(self, client: Any) -> Any:
        self._built.append(client)
        return client

    async def close(self) -> None:
        for client in self._built:
            close = getattr(client, "close", None)
            if close is not None:
                await close()
        self._built.clear()
        self._clients.clear()
