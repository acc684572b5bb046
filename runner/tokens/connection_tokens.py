"""``ConnectionTokens``: the access tokens of one named connection, renewed single-flight.

* A token is handed out while it has more than ``renew_ahead_s`` left (by the manager's clock).
  Renewal runs under one asyncio lock per connection and re-checks inside it, so 200 callers
  at expiry cause one token request; a forced renewal (after a 401) is shared the same way by
  callers that were already waiting.
* msal runs in worker threads only. Its cache is saved (encrypted, compare-and-set) whenever
  ``has_state_changed``, *before* the token is returned: a rotated refresh token is durable
  before anything could use the access token. On a version conflict the stored cache wins
  (another replica refreshed).
* Needs-a-person failures make the connection ``invalid`` (one ``connection.invalid`` log
  line with the code, its meaning and the fix) and fail fast until something changes: a new
  sign-in stored by ``connections login`` (seen as a new cache version) or new settings
  (``update``). The next success makes it ``ok`` again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import msal
import structlog

from connectors.auth import close_msal_app
from connectors.auth.managed_identity import ManagedIdentityApp
from connectors.errors import AuthError, ConnectorError, RetryableError
from runner.connections import DynamicsConnectionBase
from runner.ops.metrics import METRICS
from runner.store import ConnectionStatus, TokenCacheConflict
from runner.tokens import flows
from runner.tokens.classify import classify_exception, classify_result
from runner.tokens.messages import NEVER_SIGNED_IN, Explanation, explain
from runner.tokens.persist import CacheStore
from runner.tokens.settings import TokenSettings

log = structlog.get_logger(__name__)
Clock = Callable[[], float]
StateListener = Callable[[str, ConnectionStatus, str | None], None]
NEEDS_A_PERSON = (ConnectionStatus.INVALID, ConnectionStatus.NEVER_SIGNED_IN)


class ConnectionTokens:
    """The token provider of one connection (satisfies ``connectors.auth.TokenProvider``)."""

    def __init__(self, name: str, connection: DynamicsConnectionBase, caches: CacheStore, *,
                 clock: Clock = time.time, settings: TokenSettings | None = None,
                 on_state: StateListener | None = None) -> None:
        self.name = name
        self.connection = connection
        self.settings = settings or TokenSettings()
        self.status: ConnectionStatus | None = None
        self.reason: str | None = None  # why the state is what it is (``CODE: meaning``)
        self.expires_at: float | None = None  # of the current access token, manager clock
        self.lifetime_s: float | None = None  # of the current access token
        # last token from the identity provider, here or by another process (CLI, replica)
        self.last_refresh_at: float | None = None
        # the last token request failed for now (network, 5xx): what happened, until a token
        self.transient_error: str | None = None
        self._caches = caches
        self._clock = clock
        self._on_state = on_state
        self._lock = asyncio.Lock()
        self._cache = msal.SerializableTokenCache()
        self._app: msal.ClientApplication | ManagedIdentityApp | None = None
        self._version = 0  # store version our cache matches
        self._token: str | None = None
        self._generation = 0  # bumped on every new token; lets waiters share a forced renewal
        self._failure: AuthError | None = None
        self._failed_version = -1
        self._failed_stamp: tuple[int, int] | None = None

    # -- the TokenProvider protocol -------------------------------------------------

    async def access_token(self, *, force_refresh: bool = False) -> str:
        """A token with more than ``renew_ahead_s`` left; ``force_refresh``: a new one.

        Raises ``RetryableError`` (transient) or ``AuthError`` (needs a person).
        """
        if not force_refresh and self._fresh():
            return self._token  # type: ignore[return-value]
        seen = self._generation
        async with self._lock:
            if self._fresh() and (not force_refresh or self._generation != seen):
                return self._token  # type: ignore[return-value]  # renewed while we waited
            return await self._renew(force_refresh)

    async def on_unauthorized(self) -> str:
        """The resource rejected the token: renew once (shared with concurrent callers)."""
        return await self.access_token(force_refresh=True)

    # -- lifecycle ------------------------------------------------------------------

    async def start(self, stored_state: ConnectionStatus | None,
                    stored_reason: str | None = None, *, announce: bool = True) -> None:
        """Adopt the stored state; an authorization_code connection with no cache is
        ``never_signed_in``. A state that needs a person is announced exactly as when it
        happened (``connection.invalid`` with code, meaning and fix): after a restart the
        operator sees the same line as the first time (``announce=False``: a command that
        is about to try the connection anyway, ``connections test``)."""
        self.status, self.reason = stored_state, stored_reason
        if stored_state is not None:
            METRICS.connection_ok.labels(self.name).set(0 if stored_state in NEEDS_A_PERSON
                                                        else 1)
        if stored_state in NEEDS_A_PERSON:
            if announce:
                self._announce(stored_state, _code_of(stored_reason))
        elif (stored_state is None and self.connection.auth == "authorization_code"
                and await self._caches.store.load_token_cache(self.name) is None):
            await self._set_status(ConnectionStatus.NEVER_SIGNED_IN, NEVER_SIGNED_IN)

    async def keep_alive(self) -> bool:
        """Redeem the refresh token now (user flows), so it never reaches the inactivity
        limit; True if a token was obtained. Client credentials have nothing to keep alive."""
        if self.connection.auth in ("client_credentials", "managed_identity"):
            return False
        async with self._lock:
            await self._renew(force=True)
        return True

    async def update(self, connection: DynamicsConnectionBase) -> None:
        """New settings (e.g. a rotated secret): rebuild the msal app; retry if invalid."""
        async with self._lock:
            if connection == self.connection:
                return
            self.connection = connection
            self._close_app()
            self._token, self.expires_at, self._failure = None, None, None

    async def recheck(self) -> bool:
        """For a connection that is not ok: try once (cheap when nothing changed); True if ok."""
        try:
            await self.access_token()
        except (AuthError, RetryableError):
            return False
        return True

    def close(self) -> None:
        self._close_app()

    # -- internals ------------------------------------------------------------------

    def _fresh(self) -> bool:
        return (self._token is not None and self.expires_at is not None
                and self._clock() < self.expires_at - self._renew_margin_s())

    def _renew_margin_s(self) -> float:
        """``renew_ahead_s``, or a fraction of a lifetime shorter than that (a 4-minute
        token would otherwise be renewed on every call)."""
        if self.lifetime_s is None:
            return self.settings.renew_ahead_s
        return min(self.settings.renew_ahead_s,
                   self.lifetime_s * self.settings.short_lifetime_renew_fraction)

    async def _renew(self, force: bool) -> str:
        # Across replicas: inside the lock the stored cache is re-read first, so a replica
        # that waited adopts the refresh token another one just rotated, never redeems the
        # retired one.
        async with self._caches.refresh_lock():
            return await self._renew_locked(force)

    async def _renew_locked(self, force: bool) -> str:
        changed = await self._sync_from_store()
        if (self._failure is not None and not changed
                and self._credential_stamp() == self._failed_stamp):
            raise self._failure  # nothing changed since it failed: do not ask again
        app = await self._ensure_app()
        # Our clock decided the token is due; msal's cache judges by the wall clock, which
        # agrees in production, so after the first token we always ask msal for a new one.
        force_msal = force or (self._token is not None and not changed)
        try:
            result = await asyncio.to_thread(flows.acquire, app, self.connection, force_msal)
        except Exception as exc:
            mapped = classify_exception(self.name, exc)
            if mapped is None:
                raise
            METRICS.token_failures.labels(self.name, _failure_kind(mapped)).inc()
            self._transient(mapped)
            raise mapped from None
        await self._persist()  # before anything can use the token: rotations are durable
        return await self._accept(result)

    async def _accept(self, result: dict[str, Any] | None) -> str:
        if result is None:
            sentence = explain(self.name, NEVER_SIGNED_IN, self.connection.auth).sentence()
            error = AuthError(f"connection {self.name}: {sentence}", connection=self.name,
                              code=NEVER_SIGNED_IN)
            return await self._fail(error, ConnectionStatus.NEVER_SIGNED_IN)
        if "access_token" not in result:
            error = classify_result(self.name, self.connection.auth, result)
            if isinstance(error, AuthError):
                return await self._fail(error, ConnectionStatus.INVALID)
            METRICS.token_failures.labels(self.name, "transient").inc()
            self._transient(error)
            raise error
        now = self._clock()
        self._token = str(result["access_token"])
        self.lifetime_s = float(result.get("expires_in") or 600)
        self.expires_at = now + self.lifetime_s
        self._generation += 1
        if self.transient_error is not None:
            log.info("token.reachable_again", connection=self.name)
            self.transient_error = None
        if result.get("token_source") != "cache":
            self.last_refresh_at = now
            METRICS.token_refreshes.labels(self.name).inc()
            log.info("token.refreshed", connection=self.name,
                     expires_in_s=int(self.expires_at - now))
        self._failure = None
        if self.status is not ConnectionStatus.OK:
            await self._set_status(ConnectionStatus.OK, None)
        return self._token

    def _credential_stamp(self) -> tuple[int, int] | None:
        """When and how big the federated token file is: the platform rewriting it (a new
        token) is a change worth another try, as a new sign-in is."""
        path = self.connection.federated_token_file
        if path is None:
            return None
        try:
            info = path.stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    async def _fail(self, error: AuthError, status: ConnectionStatus) -> str:
        self._failure, self._failed_version = error, self._version
        self._failed_stamp = self._credential_stamp()
        self._token, self.expires_at = None, None
        METRICS.token_failures.labels(self.name, status.value).inc()
        self.transient_error = None  # it answered: the problem is not the network
        code = error.code or "unknown"
        if self.status is not status:
            meaning = self._announce(status, error.code)
            await self._set_status(status, f"{code}: {meaning.meaning}")
        raise error

    def _announce(self, status: ConnectionStatus, code: str | None) -> Explanation:
        """The one error line saying the connection needs a person: code, meaning, fix."""
        meaning = explain(self.name, code, self.connection.auth)
        event = ("connection.invalid" if status is ConnectionStatus.INVALID
                 else "connection.never_signed_in")
        log.error(event, connection=self.name, code=code or "unknown",
                  meaning=meaning.meaning, fix=meaning.fix)
        return meaning

    def _transient(self, error: ConnectorError) -> None:
        """Remember a failure that a retry may fix (``/readyz`` shows it); said once."""
        if self.transient_error is None:
            log.warning("token.unavailable", connection=self.name, error=error.message)
        self.transient_error = error.message

    async def _set_status(self, status: ConnectionStatus, reason: str | None) -> None:
        self.status, self.reason = status, reason
        METRICS.connection_ok.labels(self.name).set(0 if status in NEEDS_A_PERSON else 1)
        await self._caches.store.set_connection_state(self.name, status, reason)
        if self._on_state is not None:
            self._on_state(self.name, status, reason)

    async def _sync_from_store(self) -> bool:
        """Adopt a newer stored cache (another replica refreshed, or a new login)."""
        stored = await self._caches.load()
        if stored is None or stored.version == self._version:
            return False
        self._cache.deserialize(stored.text)
        if self._version:  # not our first read: someone else (CLI, replica) stored it
            METRICS.token_cache_adoptions.labels(self.name).inc()
            log.info("token.cache_adopted", connection=self.name, version=stored.version)
        self._version = stored.version
        self.last_refresh_at = max(self.last_refresh_at or 0.0, stored.updated_at)
        return True

    async def _persist(self) -> None:
        if not self._cache.has_state_changed:
            return
        try:
            self._version = await self._caches.save(self._cache, self._version)
        except TokenCacheConflict:
            log.info("token.cache_conflict", connection=self.name)
            await self._sync_from_store()  # another replica refreshed: take theirs

    async def _ensure_app(self) -> msal.ClientApplication | ManagedIdentityApp:
        if self._app is None:
            try:
                self._app = await asyncio.to_thread(
                    flows.connection_app, self.connection, self._cache, self.settings.timeout_s
                )
            except Exception as exc:  # OIDC discovery: the authority's first request
                mapped = classify_exception(self.name, exc)
                if mapped is None:
                    raise
                self._transient(mapped)
                raise mapped from None
        return self._app

    def _close_app(self) -> None:
        if self._app is not None:
            close_msal_app(self._app)
            self._app = None


def _code_of(reason: str | None) -> str | None:
    """``AADSTS7000215`` from a stored reason ``AADSTS7000215: the client secret is wrong``."""
    code = (reason or "").split(":", 1)[0].strip()
    return code or None


def _failure_kind(error: Exception) -> str:
    """The ``kind`` label of a failed token request."""
    return "transient" if isinstance(error, RetryableError) else "invalid"
