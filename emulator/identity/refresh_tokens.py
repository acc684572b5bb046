"""Refresh tokens: opaque, bound to user and client, a new one issued on every redeem.

As in Entra, the redeemed token stays valid (the client is expected to switch to the new
one). With the token setting ``refresh_token_strict_rotation`` a redeemed token is retired,
and presenting it again is AADSTS70000 naming that setting.

Entra expires a refresh token after ``refresh_token_inactivity_s`` without use (AADSTS700082);
AD FS after ``adfs_refresh_token_lifetime_s``. Both are measured on the emulator clock, so a
test advances the clock instead of waiting. Revoking a user's sessions kills every refresh
token issued to them so far (AADSTS50173).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from emulator.clock import EmulatorClock
from emulator.identity.errors import IdentityError

STRICT_ROTATION_DETAIL = (
    "The refresh token was already redeemed and has been replaced by the one issued then; "
    "the emulator's token setting refresh_token_strict_rotation accepts only the newest.")


@dataclass
class RefreshGrant:
    client_id: str
    username: str
    scope: str  # the scope granted, asked for again when a redeem names none
    adfs: bool
    issued_at_s: float
    valid_for_s: int  # since the last use (Entra) or issue (AD FS)
    last_used_s: float = 0.0
    retired: bool = False  # replaced by its successor under strict rotation
    revoked: bool = False

    def __post_init__(self) -> None:
        self.last_used_s = self.last_used_s or self.issued_at_s


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%m/%d/%Y %H:%M:%S")


def _duration(seconds: float) -> str:
    """``d.hh:mm:ss``, as Entra writes the inactive time in AADSTS700082."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}.{hours:02}:{minutes:02}:{secs:02}"


class RefreshTokens:
    def __init__(self, clock: EmulatorClock) -> None:
        self._clock = clock
        self._grants: dict[str, RefreshGrant] = {}

    def issue(self, grant: RefreshGrant) -> str:
        token = "0." + secrets.token_urlsafe(48)
        self._grants[_key(token)] = grant
        return token

    def check(self, token: str, client_id: str, *, adfs: bool) -> RefreshGrant:
        """The live grant behind ``token``, or the AADSTS error Entra gives for it."""
        grant = self._grants.get(_key(token))
        if grant is None or grant.client_id != client_id or grant.adfs != adfs:
            raise IdentityError(9002313)
        if grant.revoked:
            raise IdentityError(50173)
        if grant.retired:
            raise IdentityError(70000, {"detail": STRICT_ROTATION_DETAIL})
        inactive_s = self._clock.time() - grant.last_used_s
        if inactive_s > grant.valid_for_s:
            raise IdentityError(700082, {"issued_at": _iso(grant.issued_at_s),
                                         "inactive": _duration(inactive_s)})
        return grant

    def spend(self, grant: RefreshGrant, *, strict_rotation: bool) -> None:
        """Mark ``grant`` used once its successor is issued."""
        grant.last_used_s = self._clock.time()
        grant.retired = strict_rotation

    def revoke_user(self, username: str) -> int:
        """Revoke every live refresh token of ``username``; returns how many."""
        revoked = 0
        for grant in self._grants.values():
            if grant.username.lower() == username.lower() and not grant.revoked:
                grant.revoked = True
                revoked += 1
        return revoked
