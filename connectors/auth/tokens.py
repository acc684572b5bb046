"""What a connector needs from the token manager: a bearer token, and a way to report a 401.

Connectors import only this protocol, never ``runner``; the daemon hands each connector the
provider of its connection (``runner.tokens.ConnectionTokens`` satisfies it).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class TokenProvider(Protocol):
    """A source of access tokens for one named connection.

    Both methods raise ``connectors.errors.RetryableError`` for transient failures (network,
    5xx, 429, throttling) and ``connectors.errors.AuthError`` (with the AADSTS code) when only a
    person can fix the connection.
    """

    async def access_token(self, *, force_refresh: bool = False) -> str:
        """A bearer token valid for at least a few more minutes (``force_refresh``: a new one)."""
        ...

    async def on_unauthorized(self) -> str:
        """The resource answered 401 to the last token: renew it once and return the new one."""
        ...
