"""Sign a CAP alert with an enveloped XML-DSig signature, the IPAWS way.

RSA-SHA256 over the exclusive canonical form of the whole document
(Reference URI=""), the signer's X.509 certificate in KeyInfo, and the
Signature as the last child of <alert>, where the CAP 1.2 schema allows it.
Verification lives in publisher.cap.signature_verify and is re-exported here.
"""

from __future__ import annotations

import functools

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from lxml import etree
from signxml import (  # type: ignore[attr-defined]
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
    XMLSigner,
)

from publisher.cap.problems import CapError
from publisher.cap.signature_algorithms import XMLDSIG_NAMESPACE
from publisher.cap.signature_verify import (
    SignatureOutcome,
    Verification,
    check_signature,
    load_certificates,
    signature_holds,
    verify_alert_xml,
)
from publisher.cap.xmlsafe import parse_untrusted_xml

__all__ = [
    "SignatureOutcome",
    "SigningError",
    "Verification",
    "check_signature",
    "load_certificates",
    "read_signing_key",
    "sign_alert_xml",
    "signature_holds",
    "verify_alert_xml",
]


class SigningError(CapError):
    """The alert or the key cannot be used to make a signature."""


def _signer() -> XMLSigner:
    return XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )


# Reading a PEM key checks the RSA key, about 90 ms for 3072 bits: a signer
# signs every message with the same few keys, so each is read once.
@functools.lru_cache(maxsize=8)
def read_signing_key(key_pem: bytes) -> rsa.RSAPrivateKey:
    """The RSA key of ``key_pem``, read once; SigningError says why it cannot sign."""
    try:
        key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as error:
        raise SigningError(f"the signing key cannot be read: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        kind = type(key).__name__
        raise SigningError(f"the signing key is a {kind}, RSA-SHA256 needs an RSA key")
    return key


def sign_alert_xml(xml: bytes, key_pem: bytes, cert_pem: bytes) -> bytes:
    """Return ``xml`` with an enveloped signature made with this key and certificate."""
    root = parse_untrusted_xml(xml)
    if root.find(f"{{{XMLDSIG_NAMESPACE}}}Signature") is not None:
        raise SigningError("the alert is already signed; sign the unsigned alert instead")
    key = read_signing_key(key_pem)
    # Without an Id on <alert>, signxml references the whole document: URI="".
    signed = _signer().sign(root, key=key, cert=cert_pem.decode("ascii"))
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
