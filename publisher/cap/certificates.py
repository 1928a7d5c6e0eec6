"""Reading X.509 certificates as alerting authorities actually issue them.

Some authorities sign with certificates whose serial number is 0, which RFC
5280 forbids and cryptography warns about on every load. The serial plays no
part in how we decide trust (we compare certificates and check their
signatures and dates), so that warning is silenced here and nowhere else.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

__all__ = ["load_der_certificate", "load_pem_certificates"]


@contextmanager
def _tolerating_legacy_serials() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*serial number.*",
                                category=CryptographyDeprecationWarning)
        yield


def load_pem_certificates(data: bytes) -> list[x509.Certificate]:
    with _tolerating_legacy_serials():
        return x509.load_pem_x509_certificates(data)


def load_der_certificate(data: bytes) -> x509.Certificate:
    with _tolerating_legacy_serials():
        return x509.load_der_x509_certificate(data)
