"""The center's signing identity, loaded once, made on first use of a fresh installation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from publisher.cap.certificates import load_pem_certificates
from publisher.cap.keys import generate_demo_identity
from publisher.cap.signing import read_signing_key, sign_alert_xml
from publisher.config import Settings
from publisher.services.issuer import Issuer

__all__ = ["CenterSigner", "SignerSetupError"]

KEY_FILE = "key.pem"
CERTIFICATE_FILE = "cert.pem"


class SignerSetupError(RuntimeError):
    """The keys directory holds half an identity; it is never completed or overwritten."""


def _identity_files(keys_dir: Path) -> tuple[Path, Path]:
    key, certificate = keys_dir / KEY_FILE, keys_dir / CERTIFICATE_FILE
    if key.exists() and certificate.exists():
        return key, certificate
    if key.exists() or certificate.exists():
        present, missing = (key, certificate) if key.exists() else (certificate, key)
        raise SignerSetupError(f"{present} exists but {missing} does not; "
                               "restore the missing file or remove both to make a new identity")
    try:
        return generate_demo_identity(keys_dir)
    except FileExistsError:
        # Another process made the identity between the check and now.
        return key, certificate


@dataclass(frozen=True)
class CenterSigner:
    """Signs the center's messages; the key stays out of every repr."""

    key_pem: bytes = field(repr=False)
    certificate_pem: bytes = field(repr=False)
    issuer: Issuer

    @classmethod
    def load_or_create(cls, settings: Settings) -> CenterSigner:
        key, certificate = _identity_files(settings.paths.keys_dir)
        signer = cls(key.read_bytes(), certificate.read_bytes(), Issuer.from_settings(settings))
        # Read now, not at the first message: an early warning must not wait the ~90 ms
        # the key's check takes, and a key that cannot sign stops the start.
        read_signing_key(signer.key_pem)
        return signer

    @property
    def certificate(self) -> x509.Certificate:
        return load_pem_certificates(self.certificate_pem)[0]

    def sign(self, xml: bytes) -> bytes:
        return sign_alert_xml(xml, self.key_pem, self.certificate_pem)

    def __repr__(self) -> str:
        return (f"CenterSigner(subject={self.certificate.subject.rfc4514_string()!r}, "
                f"sender={self.issuer.sender!r})")
