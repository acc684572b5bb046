"""Certificates for the credential tests: an RSA key and a self-signed certificate, as an
admin makes for an app registration (``openssl req -x509 -newkey rsa:2048 …``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class AppCertificate:
    cert_pem: str
    key_pem: str
    thumbprint_sha1: str

    @property
    def combined(self) -> str:
        return self.cert_pem + self.key_pem


def make_certificate(name: str = "recipe-runner") -> AppCertificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()
    return AppCertificate(cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem,
                          thumbprint)
