"""Tokens for named connections: msal in worker threads, encrypted caches in the state store.

Map: ``manager.py`` ``TokenManager`` over all connections · ``connection_tokens.py`` one
connection's single-flight renewal and state · ``flows.py`` the three grants as msal calls ·
``persist.py`` the encrypted cache, compare-and-set · ``crypto.py`` the Fernet key ·
``classify.py`` msal results → ``connectors.errors`` · ``messages.py`` what each AADSTS code
means and the command that fixes it · ``login.py`` the authorization-code sign-in with a
loopback listener · ``settings.py`` tunables.
"""

from __future__ import annotations

from runner.tokens.classify import aadsts_code, classify_exception, classify_result
from runner.tokens.connection_tokens import ConnectionTokens
from runner.tokens.crypto import KEY_ENV, SecretKeyError, key_file_for, load_fernet
from runner.tokens.manager import TokenManager
from runner.tokens.messages import explain
from runner.tokens.persist import CacheStore
from runner.tokens.settings import TokenSettings

__all__ = [
    "KEY_ENV",
    "CacheStore",
    "ConnectionTokens",
    "SecretKeyError",
    "TokenManager",
    "TokenSettings",
    "aadsts_code",
    "classify_exception",
    "classify_result",
    "explain",
    "key_file_for",
    "load_fernet",
]
