"""A demo signing identity: an RSA key and a self-signed certificate for it.

Production keys come from the warning centre's PKI; this one lets a fresh
installation sign alerts end to end. The key is written once, readable by
its owner only, and never printed.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

__all__ = ["DEMO_KEY_BITS", "generate_demo_identity"]

DEMO_KEY_BITS = 3072
_KEY_FILE = "key.pem"
_CERTIFICATE_FILE = "cert.pem"


def _certificate(key: rsa.RSAPrivateKey, common_name: str, days: int) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime.now(UTC) - timedelta(minutes=5)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _write_private(path: Path, data: bytes) -> None:
    # O_EXCL refuses an existing file even if it appeared after the check,
    # and the mode is set at creation so the key is never world-readable.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def generate_demo_identity(
    directory: Path, common_name: str = "Beijing Warning Center (demo)", days: int = 825
) -> tuple[Path, Path]:
    """Write ``key.pem`` (RSA 3072, PKCS8, mode 0600) and a self-signed ``cert.pem``.

    Returns (key path, certificate path). Raises FileExistsError naming the
    path when either file exists already.
    """
    key_path = directory / _KEY_FILE
    certificate_path = directory / _CERTIFICATE_FILE
    for path in (key_path, certificate_path):
        if path.exists():
            raise FileExistsError(f"{path} exists already; a signing identity is never overwritten")
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=DEMO_KEY_BITS)
    certificate = _certificate(key, common_name, days)
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, certificate_path
