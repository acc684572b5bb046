"""Signing and checking the JWTs the emulator issues (access tokens and id_tokens).

One RSA key per emulator instance, published at the JWKS endpoint. Expiry is checked
against the emulator clock, not the wall clock, so advancing the clock expires tokens.
"""

from __future__ import annotations

import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator.clock import EmulatorClock


class TokenRejected(Exception):
    """The bearer token is missing, malformed, badly signed, expired or for another audience."""


class TokenSigner:
    def __init__(self, clock: EmulatorClock) -> None:
        self._clock = clock
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def verify(self, token: str, audiences: list[str]) -> dict[str, Any]:
        """Return the claims of a token we signed, or raise :class:`TokenRejected`."""
        try:
            claims = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                audience=audiences,
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.InvalidAudienceError as exc:
            raise TokenRejected("the token is for another audience") from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected("the token is malformed or badly signed") from exc
        if float(claims.get("exp", 0)) <= self._clock.time():
            raise TokenRejected("the token has expired")
        return claims

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}
