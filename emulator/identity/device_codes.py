"""The device authorization grant (RFC 8628) as Entra and AD FS run it.

``POST /{tenant}/oauth2/v2.0/devicecode`` (``client_id``, ``scope``) answers a
``device_code``, a short ``user_code``, ``verification_uri`` (``<base>/devicelogin``),
``expires_in`` (900 s), ``interval`` and ``message``. The client then polls the token
endpoint with ``grant_type=urn:ietf:params:oauth:grant-type:device_code``: AADSTS70016
``authorization_pending`` until a person signs in at ``/devicelogin`` with the user code
(or a test approves it through ``POST /_emulator/identity/device-codes/approve``), then the
tokens, once; AADSTS70019 ``expired_token`` after expiry, on the emulator clock.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from emulator.clock import EmulatorClock
from emulator.identity.errors import IdentityError

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
LIFETIME_S = 900
_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ23456789"


@dataclass
class DeviceCode:
    client_id: str
    scope: str
    realm_segment: str
    user_code: str
    issued_at_s: float
    username: str | None = None  # set once a person signed in with the user code
    redeemed: bool = False


def _key(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class DeviceCodes:
    def __init__(self, clock: EmulatorClock) -> None:
        self._clock = clock
        self._by_device: dict[str, DeviceCode] = {}
        self._by_user: dict[str, DeviceCode] = {}

    def issue(self, client_id: str, scope: str, realm_segment: str) -> tuple[str, DeviceCode]:
        device_code = secrets.token_urlsafe(48)
        user_code = "".join(secrets.choice(_ALPHABET) for _ in range(9))
        record = DeviceCode(client_id, scope, realm_segment, user_code, self._clock.time())
        self._by_device[_key(device_code)] = record
        self._by_user[user_code] = record
        return device_code, record

    def expired(self, record: DeviceCode) -> bool:
        return self._clock.time() - record.issued_at_s > LIFETIME_S

    def approve(self, user_code: str, username: str) -> DeviceCode:
        record = self._by_user.get(user_code.strip().upper())
        if record is None or record.redeemed or self.expired(record):
            raise IdentityError(70018)
        record.username = username
        return record

    def redeem(self, device_code: str, client_id: str) -> DeviceCode:
        """The approved record, spent now; 70016 pending, 70019 expired, 70018 unknown."""
        record = self._by_device.get(_key(device_code))
        if record is None or record.client_id != client_id or record.redeemed:
            raise IdentityError(70018)
        if self.expired(record):
            raise IdentityError(70019)
        if record.username is None:
            raise IdentityError(70016)
        record.redeemed = True
        return record
