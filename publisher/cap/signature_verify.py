"""Verify the enveloped XML-DSig signature of a CAP alert.

signxml's verifier refuses much of what real warning centres send: the NAADS
``Id="NAADS Signature"`` attribute, RSA-SHA1, expired certificates and
certificates without the extensions it expects; and it reports a changed
alert and a forged signature alike. This verifier follows XML-DSig for the
one shape CAP uses (one Reference to the document or to an Id, an enveloped
transform, a canonicalisation) and says which of the checks failed:
integrity first (digest, then signature value), then trust, then validity.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from publisher.cap.certificates import load_der_certificate, load_pem_certificates
from publisher.cap.signature_algorithms import (
    CANONICALIZATIONS,
    DEFAULT_CANONICALIZATION,
    DIGESTS,
    ENVELOPED_SIGNATURE,
    SIGNATURE_METHODS,
    XMLDSIG_NAMESPACE,
    Canonicalization,
    NotCanonicalBase64Error,
    PublicKey,
    canonicalize,
    decode_base64,
    signature_value_holds,
)
from publisher.cap.xmlsafe import parse_untrusted_xml

__all__ = [
    "SignatureOutcome",
    "Verification",
    "check_signature",
    "load_certificates",
    "verify_alert_xml",
]

_DS = f"{{{XMLDSIG_NAMESPACE}}}"
_T = TypeVar("_T")
_EXCLUSIVE_C14N = "{http://www.w3.org/2001/10/xml-exc-c14n#}InclusiveNamespaces"


class SignatureOutcome(enum.StrEnum):
    VALID = "valid"
    NO_SIGNATURE = "no_signature"
    DIGEST_MISMATCH = "digest_mismatch"
    BAD_SIGNATURE = "bad_signature"
    UNTRUSTED_CERTIFICATE = "untrusted_certificate"
    EXPIRED_CERTIFICATE = "expired_certificate"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Verification:
    outcome: SignatureOutcome
    reason: str
    certificate: x509.Certificate | None = None
    algorithm: str | None = None
    # True when every part of the signature could be read and only the
    # cryptographic comparison decided: a document changed after signing
    # rather than a broken or forged signature element.
    well_formed: bool = False

    @property
    def valid(self) -> bool:
        return self.outcome is SignatureOutcome.VALID


class _Failure(Exception):
    def __init__(self, outcome: SignatureOutcome, reason: str, *,
                 well_formed: bool = False) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason
        self.well_formed = well_formed


def _malformed(reason: str) -> _Failure:
    return _Failure(SignatureOutcome.MALFORMED, reason)


def _child(parent: etree._Element, name: str) -> etree._Element:
    found = parent.find(f"{_DS}{name}")
    if found is None:
        raise _malformed(f"{etree.QName(parent).localname} has no {name}")
    return found


def _algorithm(element: etree._Element, table: dict[str, _T], what: str) -> _T:
    uri = element.get("Algorithm", "")
    if uri not in table:
        raise _malformed(f"unsupported {what} {uri!r}")
    return table[uri]


def _inclusive_prefixes(element: etree._Element) -> list[str]:
    inclusive = element.find(_EXCLUSIVE_C14N)
    return (inclusive.get("PrefixList") or "").split() if inclusive is not None else []


@dataclass(frozen=True, slots=True)
class _ReferenceTransforms:
    enveloped: bool
    canonicalization: Canonicalization
    inclusive_prefixes: list[str]


def _reference_transforms(reference: etree._Element) -> _ReferenceTransforms:
    enveloped = False
    canonicalization = DEFAULT_CANONICALIZATION
    prefixes: list[str] = []
    for transform in reference.iterfind(f"{_DS}Transforms/{_DS}Transform"):
        algorithm = transform.get("Algorithm", "")
        if algorithm == ENVELOPED_SIGNATURE:
            enveloped = True
        elif algorithm in CANONICALIZATIONS:
            canonicalization = CANONICALIZATIONS[algorithm]
            prefixes = _inclusive_prefixes(transform)
        else:
            raise _malformed(f"unsupported transform {algorithm!r}")
    # A same-document reference ("" or "#id") selects a node-set without
    # comments, so no canonicalisation of it can bring comments back.
    plain = Canonicalization(exclusive=canonicalization.exclusive, with_comments=False)
    return _ReferenceTransforms(enveloped, plain, prefixes)


def _remove_keeping_tail(element: etree._Element) -> None:
    # lxml moves an element's tail text with it; the enveloped-signature
    # transform removes the element only, so the text stays behind.
    parent = element.getparent()
    if parent is None:
        raise _malformed("the signature is the whole document")
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _counterpart(document: etree._ElementTree, element: etree._Element) -> etree._Element:
    """The element of a copied document that stands where ``element`` stands in the original."""
    steps: list[int] = []
    node = element
    while (parent := node.getparent()) is not None:
        steps.append(parent.index(node))
        node = parent
    found = document.getroot()
    for step in reversed(steps):
        found = found[step]
    return found


def _referenced_octets(
    signature: etree._Element, reference: etree._Element, transforms: _ReferenceTransforms
) -> list[bytes]:
    """What the reference digests, under each reading a real signer is known to use.

    The first reading is XML-DSig's. NAADS (Canada) places several signatures
    side by side, each computed over the alert without any of them, so when
    there are siblings a second reading removes them all.
    """
    # Some signers (the WMO alert hub among them) leave URI out; for an
    # enveloped CAP signature the only object it can mean is the document.
    uri = reference.get("URI", "")
    if uri and not uri.startswith("#"):
        raise _malformed(f"reference URI {uri!r} points outside the alert")
    parent = signature.getparent()
    siblings = [] if parent is None else parent.findall(f"{_DS}Signature")
    removals = [[signature]] if len(siblings) < 2 else [[signature], siblings]
    return [_octets_without(signature, uri, transforms, removed) for removed in removals]


def _octets_without(
    signature: etree._Element,
    uri: str,
    transforms: _ReferenceTransforms,
    removed: list[etree._Element],
) -> bytes:
    original = signature.getroottree()
    document = copy.deepcopy(original)
    if transforms.enveloped:
        for element in [_counterpart(document, each) for each in removed]:
            _remove_keeping_tail(element)
    target: etree._Element | etree._ElementTree = document
    if uri:
        found = document.xpath("//*[@Id=$id or @ID=$id or @id=$id]", id=uri[1:])
        candidates = found if isinstance(found, list) else []
        matches = [each for each in candidates if isinstance(each, etree._Element)]
        if len(matches) != 1:
            raise _malformed(f"reference URI {uri!r} matches {len(matches)} elements, not one")
        target = matches[0]
    return canonicalize(target, transforms.canonicalization, transforms.inclusive_prefixes)


def _rsa_key_value(key_value: etree._Element) -> rsa.RSAPublicKey:
    try:
        modulus = decode_base64(_child(key_value, "Modulus").text)
        exponent = decode_base64(_child(key_value, "Exponent").text)
        return rsa.RSAPublicNumbers(
            int.from_bytes(exponent, "big"), int.from_bytes(modulus, "big")
        ).public_key()
    except (NotCanonicalBase64Error, ValueError) as error:
        raise _malformed(f"the RSAKeyValue cannot be read: {error}") from None


def _signing_key(signature: etree._Element) -> tuple[PublicKey, x509.Certificate | None]:
    key_info = signature.find(f"{_DS}KeyInfo")
    if key_info is None:
        raise _Failure(
            SignatureOutcome.UNTRUSTED_CERTIFICATE,
            "the signature has no KeyInfo and no certificate",
        )
    certificate_text = key_info.find(f"{_DS}X509Data/{_DS}X509Certificate")
    if certificate_text is not None:
        try:
            certificate = load_der_certificate(decode_base64(certificate_text.text))
            key = certificate.public_key()
        except (NotCanonicalBase64Error, ValueError) as error:
            raise _Failure(
                SignatureOutcome.UNTRUSTED_CERTIFICATE,
                f"the KeyInfo certificate cannot be read: {error}",
            ) from None
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise _Failure(
                SignatureOutcome.UNTRUSTED_CERTIFICATE,
                f"the certificate holds a {type(key).__name__}, not an RSA or EC key",
            )
        return key, certificate
    key_value = key_info.find(f"{_DS}KeyValue/{_DS}RSAKeyValue")
    if key_value is not None:
        return _rsa_key_value(key_value), None
    raise _Failure(
        SignatureOutcome.UNTRUSTED_CERTIFICATE,
        "the KeyInfo has neither an X509Certificate nor an RSAKeyValue",
    )


def _digest(algorithm: type[hashes.HashAlgorithm], octets: bytes) -> bytes:
    digest = hashes.Hash(algorithm())
    digest.update(octets)
    return digest.finalize()


def _check_one(signature: etree._Element) -> Verification:
    certificate: x509.Certificate | None = None
    algorithm: str | None = None
    try:
        signed_info = _child(signature, "SignedInfo")
        canonicalization_method = _child(signed_info, "CanonicalizationMethod")
        canonicalization = _algorithm(
            canonicalization_method, CANONICALIZATIONS, "canonicalization"
        )
        method = _algorithm(
            _child(signed_info, "SignatureMethod"), SIGNATURE_METHODS, "signature method"
        )
        algorithm = method.name
        references = signed_info.findall(f"{_DS}Reference")
        if len(references) != 1:
            raise _malformed(f"ambiguous signature: {len(references)} references")
        reference = references[0]
        digest_algorithm = _algorithm(_child(reference, "DigestMethod"), DIGESTS, "digest method")
        digest_text = _child(reference, "DigestValue").text
        signature_text = _child(signature, "SignatureValue").text
        readings = _referenced_octets(signature, reference, _reference_transforms(reference))
        signed = canonicalize(
            signed_info, canonicalization, _inclusive_prefixes(canonicalization_method)
        )

        key, certificate = _signing_key(signature)

        # A value that is not even base64 is a defect of that value alone,
        # whatever else happened to the document, so it is named first.
        try:
            expected_digest = decode_base64(digest_text)
        except NotCanonicalBase64Error as error:
            raise _Failure(
                SignatureOutcome.DIGEST_MISMATCH,
                f"the DigestValue is {error}, so no digest can match",
            ) from None
        try:
            signature_value = decode_base64(signature_text)
        except NotCanonicalBase64Error as error:
            raise _Failure(
                SignatureOutcome.BAD_SIGNATURE, f"the signature value is {error}"
            ) from None
        if all(_digest(digest_algorithm, reading) != expected_digest for reading in readings):
            raise _Failure(
                SignatureOutcome.DIGEST_MISMATCH,
                "the digest of the signed content differs from the DigestValue: "
                "the alert was changed after it was signed",
                well_formed=True,
            )
        try:
            holds = signature_value_holds(key, method, signature_value, signed)
        except TypeError as error:
            raise _Failure(
                SignatureOutcome.BAD_SIGNATURE, f"the signature cannot be checked: {error}"
            ) from None
        if not holds:
            raise _Failure(
                SignatureOutcome.BAD_SIGNATURE,
                f"the {algorithm} signature value does not verify with the signer's key",
                well_formed=True,
            )
    except _Failure as failure:
        return Verification(failure.outcome, failure.reason, certificate, algorithm,
                            failure.well_formed)
    except etree.C14NError as error:
        reason = f"cannot canonicalise: {error}"
        return Verification(SignatureOutcome.MALFORMED, reason, None, algorithm)
    signer = "a bare RSA key value, no certificate" if certificate is None else "its certificate"
    reason = f"digest and {algorithm} signature hold, checked with {signer}"
    return Verification(SignatureOutcome.VALID, reason, certificate, algorithm, well_formed=True)


def _check_each(root: etree._Element) -> list[Verification]:
    signatures = root.findall(f"{_DS}Signature")
    if not signatures:
        if root.find(f".//{_DS}Signature") is not None:
            reason = "the signature is not a child of the alert"
            return [Verification(SignatureOutcome.MALFORMED, reason)]
        return [Verification(SignatureOutcome.NO_SIGNATURE, "the alert carries no signature")]
    return [_check_one(signature) for signature in signatures]


def _first_failure(verifications: list[Verification]) -> Verification | None:
    return next((verification for verification in verifications if not verification.valid), None)


def check_signature(root: etree._Element) -> Verification:
    """Integrity only: the digest and the signature value, against the KeyInfo key.

    An alert relayed through NAADS carries two signatures; every one of them
    must hold. No trust decision is made here.
    """
    verifications = _check_each(root)
    return _first_failure(verifications) or verifications[0]


def _issued_by(certificate: x509.Certificate, anchor: x509.Certificate) -> bool:
    if certificate == anchor:
        return True
    if certificate.issuer != anchor.subject:
        return False
    try:
        certificate.verify_directly_issued_by(anchor)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _trust(
    verification: Verification, trusted: Sequence[x509.Certificate], at: datetime
) -> Verification:
    certificate = verification.certificate
    if certificate is None:
        return Verification(
            SignatureOutcome.UNTRUSTED_CERTIFICATE,
            "the signature carries a bare key and no certificate to check against the trusted ones",
            None,
            verification.algorithm,
        )
    subject = certificate.subject.rfc4514_string()
    if not any(_issued_by(certificate, anchor) for anchor in trusted):
        return Verification(
            SignatureOutcome.UNTRUSTED_CERTIFICATE,
            f"the certificate of {subject} is neither trusted nor issued by a trusted certificate",
            certificate,
            verification.algorithm,
        )
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if not start <= at <= end:
        return Verification(
            SignatureOutcome.EXPIRED_CERTIFICATE,
            f"the certificate of {subject} is valid from {start:%Y-%m-%d %H:%M} "
            f"to {end:%Y-%m-%d %H:%M} UTC, not at {at:%Y-%m-%d %H:%M} UTC",
            certificate,
            verification.algorithm,
        )
    return Verification(
        SignatureOutcome.VALID,
        f"{verification.reason}; the certificate of {subject} is trusted and valid",
        certificate,
        verification.algorithm,
    )


def verify_alert_xml(
    xml: bytes, trusted: Sequence[x509.Certificate], *, at: datetime | None = None
) -> Verification:
    """Integrity, then trust: some signature's certificate is (or is issued by) a trusted one,
    and is valid at ``at`` (default: now).

    Raises what parse_untrusted_xml raises for a document that is not XML.
    """
    moment = at or datetime.now(UTC)
    verifications = _check_each(parse_untrusted_xml(xml))
    failure = _first_failure(verifications)
    if failure is not None:
        return failure
    judged = [_trust(verification, trusted, moment) for verification in verifications]
    return next((verdict for verdict in judged if verdict.valid), judged[0])


def load_certificates(paths: Iterable[Path]) -> list[x509.Certificate]:
    """Every certificate of these PEM files, in order."""
    certificates: list[x509.Certificate] = []
    for path in paths:
        try:
            certificates.extend(load_pem_certificates(path.read_bytes()))
        except ValueError as error:
            raise ValueError(f"{path}: no readable PEM certificate ({error})") from None
    return certificates
