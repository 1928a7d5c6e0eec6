"""The XML-DSig algorithms an alert signature may name, and what each one does.

Each table maps an algorithm URI to how it is carried out with lxml
(canonicalisation) or cryptography (digests and signature values). A URI that
is not in a table is not supported, and the caller says so by name.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree

__all__ = [
    "CANONICALIZATIONS",
    "DEFAULT_CANONICALIZATION",
    "DIGESTS",
    "ENVELOPED_SIGNATURE",
    "SIGNATURE_METHODS",
    "XMLDSIG_NAMESPACE",
    "Canonicalization",
    "KeyFamily",
    "NotCanonicalBase64Error",
    "PublicKey",
    "SignatureMethod",
    "canonicalize",
    "decode_base64",
    "signature_value_holds",
]

XMLDSIG_NAMESPACE = "http://www.w3.org/2000/09/xmldsig#"
ENVELOPED_SIGNATURE = f"{XMLDSIG_NAMESPACE}enveloped-signature"
_EXCLUSIVE_NAMESPACE = "http://www.w3.org/2001/10/xml-exc-c14n#"
_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
_XMLENC = "http://www.w3.org/2001/04/xmlenc#"

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True, slots=True)
class Canonicalization:
    exclusive: bool
    with_comments: bool


_C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
_C14N_11 = "http://www.w3.org/2006/12/xml-c14n11"

# C14N 1.1 differs from 1.0 only in how xml:id and xml:base are inherited
# into a document subset. CAP alerts carry neither attribute, so both produce
# identical bytes here, and lxml only implements 1.0.
CANONICALIZATIONS: dict[str, Canonicalization] = {
    _C14N_10: Canonicalization(exclusive=False, with_comments=False),
    f"{_C14N_10}#WithComments": Canonicalization(exclusive=False, with_comments=True),
    _C14N_11: Canonicalization(exclusive=False, with_comments=False),
    f"{_C14N_11}#WithComments": Canonicalization(exclusive=False, with_comments=True),
    _EXCLUSIVE_NAMESPACE: Canonicalization(exclusive=True, with_comments=False),
    f"{_EXCLUSIVE_NAMESPACE}WithComments": Canonicalization(exclusive=True, with_comments=True),
}

# What a reference's node-set becomes when no transform canonicalises it.
DEFAULT_CANONICALIZATION = CANONICALIZATIONS[_C14N_10]

DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    f"{XMLDSIG_NAMESPACE}sha1": hashes.SHA1,
    f"{_XMLENC}sha256": hashes.SHA256,
    f"{_MORE}sha384": hashes.SHA384,
    f"{_XMLENC}sha512": hashes.SHA512,
}


class KeyFamily(enum.StrEnum):
    RSA = "RSA"
    ECDSA = "ECDSA"


@dataclass(frozen=True, slots=True)
class SignatureMethod:
    family: KeyFamily
    hash_algorithm: type[hashes.HashAlgorithm]

    @property
    def name(self) -> str:
        return f"{self.family}-{self.hash_algorithm().name.upper()}"


SIGNATURE_METHODS: dict[str, SignatureMethod] = {
    f"{XMLDSIG_NAMESPACE}rsa-sha1": SignatureMethod(KeyFamily.RSA, hashes.SHA1),
    f"{_MORE}rsa-sha256": SignatureMethod(KeyFamily.RSA, hashes.SHA256),
    f"{_MORE}rsa-sha384": SignatureMethod(KeyFamily.RSA, hashes.SHA384),
    f"{_MORE}rsa-sha512": SignatureMethod(KeyFamily.RSA, hashes.SHA512),
    f"{_MORE}ecdsa-sha256": SignatureMethod(KeyFamily.ECDSA, hashes.SHA256),
    f"{_MORE}ecdsa-sha384": SignatureMethod(KeyFamily.ECDSA, hashes.SHA384),
}


class NotCanonicalBase64Error(ValueError):
    """The text is not base64, or not in the one canonical form of its bytes."""


def decode_base64(text: str | None) -> bytes:
    """Decode base64 strictly, ignoring only white space.

    A lenient decoder ignores the unused bits of the last character, so a
    value with one altered character can decode to the very same bytes; a
    tampered value must not pass for the original, hence the round trip.
    """
    compact = "".join((text or "").split())
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as error:
        raise NotCanonicalBase64Error(f"not valid base64 ({error})") from None
    if base64.b64encode(decoded).decode("ascii") != compact:
        raise NotCanonicalBase64Error("not canonical base64 (altered padding bits)")
    return decoded


def canonicalize(
    node: etree._Element | etree._ElementTree,
    canonicalization: Canonicalization,
    inclusive_prefixes: list[str] | None = None,
) -> bytes:
    if canonicalization.exclusive:
        return etree.tostring(
            node,
            method="c14n",
            exclusive=True,
            with_comments=canonicalization.with_comments,
            inclusive_ns_prefixes=inclusive_prefixes or None,
        )
    if isinstance(node, etree._Element) and node.getparent() is not None:
        node = _standalone(node)
    return etree.tostring(node, method="c14n", with_comments=canonicalization.with_comments)


_COPY_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _standalone(element: etree._Element) -> etree._Element:
    # libxml2 2.14 writes a spurious xmlns="" into the inclusive canonical
    # form of a subtree whose ancestors declare another default namespace
    # (seen on SignedInfo under a CAP alert). A serialised copy carries the
    # same in-scope namespace declarations and canonicalises correctly. The
    # bytes are lxml's own serialisation of an already parsed tree.
    return etree.fromstring(etree.tostring(element), _COPY_PARSER)


def _ecdsa_der(raw: bytes) -> bytes:
    # XML-DSig carries an ECDSA signature as the raw r||s pair of equal halves
    # (RFC 4050); cryptography wants the DER sequence.
    if not raw or len(raw) % 2:
        raise InvalidSignature
    half = len(raw) // 2
    r, s = int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
    return encode_dss_signature(r, s)


def signature_value_holds(
    public_key: PublicKey, method: SignatureMethod, signature: bytes, signed: bytes
) -> bool:
    """Whether ``signature`` is a signature of ``signed`` by ``public_key``.

    Raises TypeError when the key cannot make this kind of signature.
    """
    try:
        if method.family is KeyFamily.RSA and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, signed, padding.PKCS1v15(), method.hash_algorithm())
        elif method.family is KeyFamily.ECDSA and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(_ecdsa_der(signature), signed, ec.ECDSA(method.hash_algorithm()))
        else:
            raise TypeError(f"a {type(public_key).__name__} cannot make a {method.name} signature")
    except InvalidSignature:
        return False
    return True
