"""``TokenManager``: one :class:`ConnectionTokens` per Dynamics connection, and what the
daemon needs around them: start, keep-alive, re-checks, reloads and state notifications.

The engine subscribes to state changes (``subscribe``) to pause the recipes of a connection
that became ``invalid`` and resume them when it is ``ok`` again; ``recheck`` (cheap: one store
read per broken connection) notices a ``connections login`` made by another process.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from cryptography.fernet import Fernet

from connectors.errors import AuthError, RecipeError, RetryableError
from runner.connections import ConnectionsFile, DynamicsConnectionBase
from runner.store import ConnectionStatus, Store
from runner.tokens.connection_tokens import (
    NEEDS_A_PERSON,
    Clock,
    ConnectionTokens,
    StateListener,
)
from runner.tokens.persist import CacheStore
from runner.tokens.settings import TokenSettings

log = structlog.get_logger(__name__)


class TokenManager:
    """Token providers for every Dynamics connection of a connections file."""

    def __init__(self, connections: ConnectionsFile, store: Store, fernet: Fernet, *,
                 clock: Clock = time.time, settings: TokenSettings | None = None) -> None:
        self.store = store
        self.fernet = fernet
        self.clock = clock
        self.settings = settings or TokenSettings()
        self._listeners: list[StateListener] = []
        self._tokens: dict[str, ConnectionTokens] = {
            name: self._new_tokens(name, conn)
            for name, conn in _dynamics(connections).items()
        }

    def _new_tokens(self, name: str, conn: DynamicsConnectionBase) -> ConnectionTokens:
        return ConnectionTokens(name, conn, CacheStore(self.store, self.fernet, name),
                                clock=self.clock, settings=self.settings, on_state=self._notify)

    async def start(self) -> None:
        """Load each connection's stored state (and mark unsigned authorization_code ones)."""
        states = {s.connection: s for s in await self.store.list_connection_states()}
        for name, tokens in self._tokens.items():
            stored = states.get(name)
            await tokens.start(stored.state if stored else None,
                               stored.reason if stored else None)

    def tokens(self, name: str) -> ConnectionTokens:
        """The token provider of connection ``name``."""
        try:
            return self._tokens[name]
        except KeyError:
            raise RecipeError(f"no Dynamics connection named {name!r}") from None

    @property
    def names(self) -> list[str]:
        return list(self._tokens)

    def needing_a_person(self) -> list[tuple[str, ConnectionStatus, str | None]]:
        """``(name, state, reason)`` of each connection that needs a sign-in, a new secret
        or another fix by a person."""
        return [(name, tokens.status, tokens.reason) for name, tokens in self._tokens.items()
                if tokens.status in NEEDS_A_PERSON]

    def unreachable(self) -> dict[str, str]:
        """Connection → the temporary failure of its last token request (network, 5xx)."""
        return {name: tokens.transient_error for name, tokens in self._tokens.items()
                if tokens.transient_error is not None}

    def subscribe(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener(connection, state, reason)`` on every state change; returns a
        function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self, name: str, state: ConnectionStatus, reason: str | None) -> None:
        for listener in list(self._listeners):
            listener(name, state, reason)

    async def keep_alive(self) -> dict[str, bool]:
        """Redeem the refresh token of every user-flow connection that is not broken; the
        outcome per connection (a failure is logged and classified, never raised)."""
        outcome: dict[str, bool] = {}
        for name, tokens in self._tokens.items():
            if tokens.connection.auth in ("client_credentials", "managed_identity") \
                    or tokens.status in (
                ConnectionStatus.INVALID, ConnectionStatus.NEVER_SIGNED_IN
            ):
                continue
            try:
                outcome[name] = await tokens.keep_alive()
            except (AuthError, RetryableError) as exc:
                log.warning("token.keep_alive_failed", connection=name, error=exc.message)
                outcome[name] = False
        return outcome

    async def recheck(self) -> list[str]:
        """Try every connection that is not ok once; the names that are ok now."""
        recovered = []
        for name, tokens in self._tokens.items():
            if tokens.status is not ConnectionStatus.OK and await tokens.recheck():
                recovered.append(name)
        return recovered

    async def reload(self, connections: ConnectionsFile) -> None:
        """Adopt a re-read connections file: changed connections retry with the new
        settings, new ones are added, removed ones closed."""
        wanted = _dynamics(connections)
        for name in [n for n in self._tokens if n not in wanted]:
            self._tokens.pop(name).close()
        for name, conn in wanted.items():
            if name in self._tokens:
                await self._tokens[name].update(conn)
            else:
                self._tokens[name] = self._new_tokens(name, conn)
                await self._tokens[name].start(None)

    def close(self) -> None:
        for tokens in self._tokens.values():
            tokens.close()


def _dynamics(connections: ConnectionsFile) -> dict[str, DynamicsConnectionBase]:
    return {name: conn for name, conn in connections.connections.items()
            if isinstance(conn, DynamicsConnectionBase)}
