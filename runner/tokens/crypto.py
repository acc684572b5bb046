"""The key that encrypts token caches at rest (Fernet), from the environment or a key file.

``RECIPE_RUNNER_SECRET_KEY`` (a urlsafe-base64 32-byte Fernet key) wins. Otherwise the key lives
in a file beside the state database, created on first use with mode 0600 so no other user can
read it. The key itself is never logged or put in an exception message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from collections.abc import Mapping
from pathlib import Path

import structlog
from cryptography.fernet import Fernet, InvalidToken

from runner.store import normalize_url

KEY_ENV = "RECIPE_RUNNER_SECRET_KEY"
KEY_FILE_NAME = "recipe-runner.key"
DEFAULT_KEY_DIR = Path("state")
_PRIVATE_MODE = 0o600

log = structlog.get_logger(__name__)


class SecretKeyError(Exception):
    """The encryption key is missing, malformed or does not open the stored cache."""


def key_file_for(state_url: str) -> Path:
    """Where the key file lives: beside a SQLite state file, else ``state/`` in the cwd."""
    normalized = normalize_url(state_url)
    if normalized.startswith("sqlite"):
        return Path(normalized.split(":///", 1)[1]).parent / KEY_FILE_NAME
    return DEFAULT_KEY_DIR / KEY_FILE_NAME


def derived_secret(key_file: Path, purpose: str,
                   environ: Mapping[str, str] | None = None) -> str:
    """A secret for ``purpose`` (e.g. a webhook's key) derived from this installation's key
    by HMAC-SHA256: the same across restarts and replicas sharing the key, different for
    every purpose, never stored, and telling nothing about the key itself."""
    load_fernet(key_file, environ)  # the key is valid, and exists from now on
    env = os.environ if environ is None else environ
    key = env[KEY_ENV].encode() if env.get(KEY_ENV) else key_file.read_bytes().strip()
    digest = hmac.new(hashlib.sha256(b"derive:" + key).digest(), purpose.encode(),
                      hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def load_fernet(key_file: Path, environ: Mapping[str, str] | None = None,
                *, create: bool = True) -> Fernet | None:
    """The Fernet for token caches; ``None`` only when ``create`` is False and there is no key."""
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV):
        return _fernet(env[KEY_ENV].encode(), KEY_ENV)
    if key_file.is_file():
        _keep_private(key_file)
        return _fernet(key_file.read_bytes().strip(), str(key_file))
    if not create:
        return None
    return _fernet(_create_key_file(key_file), str(key_file))


def _fernet(key: bytes, origin: str) -> Fernet:
    try:
        return Fernet(key)
    except ValueError:
        raise SecretKeyError(f"{origin} does not hold a valid Fernet key "
                        "(32 url-safe base64-encoded bytes)") from None


def _create_key_file(path: Path) -> bytes:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # O_EXCL: two processes starting at once must not each write their own key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_MODE)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as out:
        out.write(key + b"\n")
    log.info("token.key_created", key_file=str(path))
    return key


def _keep_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(_PRIVATE_MODE)
        log.warning("token.key_file_mode_fixed", key_file=str(path), was=oct(mode))


def encrypt(fernet: Fernet, plaintext: str) -> bytes:
    return fernet.encrypt(plaintext.encode())


def decrypt(fernet: Fernet, ciphertext: bytes) -> str:
    """The plaintext; raises :class:`SecretKeyError` if this key did not encrypt it."""
    try:
        return fernet.decrypt(ciphertext).decode()
    except InvalidToken:
        raise SecretKeyError("the stored token cache cannot be decrypted with this key "
                        f"(was {KEY_ENV} or the key file changed?)") from None
