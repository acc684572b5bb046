"""What a confidential client proves itself with, in the form msal's ``client_credential``
takes: a secret (a string), a certificate (a dict with the private key and the certificate,
from which msal makes a signed client assertion each time one is needed), or a federated
token file (a callable that reads the file on every token request, so a token the platform
rotated, as Kubernetes does about hourly, is always the one sent).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
_KEY = re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----.+?-----END (?:[A-Z]+ )?PRIVATE "
                  r"KEY-----", re.DOTALL)


class CredentialError(ValueError):
    """A certificate or key that cannot be used; never includes key material."""


@dataclass(frozen=True)
class CertificateCredential:
    """A private key (PEM) and its certificate (PEM) or SHA-1 thumbprint (hex)."""

    private_key: str
    certificate: str | None
    thumbprint_sha1: str
    passphrase: str | None = None

    def for_msal(self) -> dict[str, Any]:
        """With the certificate, msal signs with SHA-256 (PS256, ``x5t#S256``) for Entra and
        SHA-1 for AD FS, and sends the chain (``x5c``); with only a thumbprint, SHA-1."""
        credential: dict[str, Any] = {"private_key": self.private_key}
        if self.certificate is not None:
            credential["public_certificate"] = self.certificate
        else:
            credential["thumbprint"] = self.thumbprint_sha1
        if self.passphrase:
            credential["passphrase"] = self.passphrase
        return credential


def certificate_credential(pem: str, key_pem: str | None = None,
                           thumbprint: str | None = None,
                           passphrase: str | None = None) -> CertificateCredential:
    """From ``pem`` (the certificate, with the private key unless ``key_pem`` is given);
    a ``thumbprint`` given must match the certificate's SHA-1 thumbprint."""
    keys = _KEY.findall(key_pem if key_pem else pem)
    if not keys:
        where = "client_certificate_key" if key_pem else "client_certificate"
        raise CredentialError(f"{where} has no PEM private key (-----BEGIN PRIVATE KEY-----)")
    _check_key(keys[0], passphrase)
    certs = _CERT.findall(pem)
    given = _normalise(thumbprint) if thumbprint else None
    if not certs:
        if given is None:
            raise CredentialError("client_certificate has no certificate: include it, or set "
                                  "client_certificate_thumbprint")
        return CertificateCredential(keys[0], None, given, passphrase)
    actual = sha1_thumbprint(certs[0])
    if given is not None and given != actual:
        raise CredentialError(f"client_certificate_thumbprint {given} does not match the "
                              f"certificate (its SHA-1 thumbprint is {actual})")
    return CertificateCredential(keys[0], certs[0], actual, passphrase)


def sha1_thumbprint(cert_pem: str) -> str:
    """The SHA-1 thumbprint Azure shows for a certificate, as upper-case hex."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError as exc:
        raise CredentialError("client_certificate holds a certificate that cannot be "
                              "read") from exc
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der).hexdigest().upper()


def _normalise(thumbprint: str) -> str:
    cleaned = thumbprint.replace(":", "").replace(" ", "").upper()
    if not re.fullmatch(r"[0-9A-F]{40}", cleaned):
        raise CredentialError("client_certificate_thumbprint must be 40 hex digits (SHA-1)")
    return cleaned


def _check_key(key_pem: str, passphrase: str | None) -> None:
    try:
        serialization.load_pem_private_key(key_pem.encode(),
                                           passphrase.encode() if passphrase else None)
    except (ValueError, TypeError) as exc:
        hint = " (wrong or missing client_certificate_passphrase?)" \
            if "encrypt" in str(exc).lower() or "password" in str(exc).lower() else ""
        raise CredentialError(f"the private key cannot be read{hint}") from None


def federated_assertion(path: Path) -> Callable[[], str]:
    """A callable msal invokes for each token request: the token file's current content."""

    def read_token() -> str:
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CredentialError(f"cannot read federated_token_file '{path}': "
                                  f"{exc.strerror or exc}") from None

    return read_token
