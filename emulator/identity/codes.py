"""Authorization codes: single-use, short-lived, bound to client, redirect URI and PKCE."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from emulator.clock import EmulatorClock
from emulator.identity.errors import IdentityError

CODE_LIFETIME_S = 600  # Entra: "codes live about 10 minutes" (reference §10)


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    scope: str  # as asked at /authorize
    code_challenge: str  # S256
    username: str
    realm_segment: str  # the tenant path segment or "adfs" it was issued under
    nonce: str | None
    issued_at_s: float
    redeemed: bool = False


def s256(code_verifier: str) -> str:
    """The PKCE S256 challenge of a verifier: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(code_verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _key(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()  # never keep the bearer value itself


class AuthCodes:
    def __init__(self, clock: EmulatorClock) -> None:
        self._clock = clock
        self._codes: dict[str, AuthCode] = {}

    def issue(self, record: AuthCode) -> str:
        code = secrets.token_urlsafe(32)
        self._codes[_key(code)] = record
        return code

    def redeem(self, code: str, client_id: str, redirect_uri: str, code_verifier: str) -> AuthCode:
        """The code's record, spent now; AADSTS70008/54005/500112/501481 when it cannot be."""
        record = self._codes.get(_key(code))
        if record is None or record.client_id != client_id:
            raise IdentityError(70008)
        if record.redeemed:
            raise IdentityError(54005)
        record.redeemed = True  # any attempt spends it, as a stolen code must not be retried
        if self._clock.time() - record.issued_at_s > CODE_LIFETIME_S:
            raise IdentityError(70008)
        if redirect_uri != record.redirect_uri:
            raise IdentityError(500112, {"redirect_uri": redirect_uri})
        if not hmac.compare_digest(s256(code_verifier), record.code_challenge):
            raise IdentityError(501481)
        return record
