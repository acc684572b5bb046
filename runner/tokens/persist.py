"""A connection's msal token cache in the state store: encrypted, compare-and-set by version.

The plaintext cache (refresh tokens included) exists only in memory; the store holds Fernet
ciphertext. Version 0 means "nothing stored yet".
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import msal
from cryptography.fernet import Fernet

from runner.cluster.locks import cluster_lock
from runner.store import Store, TokenCacheConflict
from runner.tokens.crypto import decrypt, encrypt

MAX_SAVE_ATTEMPTS = 5


@dataclass(frozen=True)
class StoredCache:
    """A decrypted cache and the store version it came from."""

    text: str
    version: int
    updated_at: float


class CacheStore:
    """Load and save one connection's encrypted msal cache."""

    def __init__(self, store: Store, fernet: Fernet, connection: str) -> None:
        self.store = store
        self.fernet = fernet
        self.connection = connection

    def refresh_lock(self) -> AbstractAsyncContextManager[None]:
        """Held around a token refresh: on PostgreSQL one replica at a time redeems this
        connection's refresh token (an advisory lock); on SQLite there is one replica."""
        return cluster_lock(self.store.engine, f"token-refresh:{self.connection}")

    async def load(self) -> StoredCache | None:
        """The stored cache, decrypted; ``None`` if the connection has none yet."""
        row = await self.store.load_token_cache(self.connection)
        if row is None:
            return None
        return StoredCache(decrypt(self.fernet, row.ciphertext), row.version, row.updated_at)

    async def save(self, cache: msal.SerializableTokenCache, expected_version: int) -> int:
        """Store ``cache`` if the store is still at ``expected_version``; the new version.

        Raises ``TokenCacheConflict`` when someone else saved first.
        """
        ciphertext = encrypt(self.fernet, cache.serialize())
        return await self.store.save_token_cache(self.connection, ciphertext, expected_version)

    async def replace(self, cache: msal.SerializableTokenCache) -> int:
        """Store ``cache`` whatever is stored now (a fresh sign-in wins); the new version."""
        for _ in range(MAX_SAVE_ATTEMPTS):
            current = await self.store.load_token_cache(self.connection)
            try:
                return await self.save(cache, current.version if current else 0)
            except TokenCacheConflict:
                continue  # a daemon refreshed in between: take the next version
        raise TokenCacheConflict(self.connection, -1)
