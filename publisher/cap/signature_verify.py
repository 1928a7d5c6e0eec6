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
    SignatureMethod,
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
    "signature_holds",
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


_Form = tuple[etree._Element, bool, Canonicalization, tuple[str, ...]]
_Spans = tuple[tuple[int, int], ...]
_SAME_NAMED_AFTER = etree.XPath(
    "count(descendant::*[name()=$name]) + count(following::*[name()=$name])"
)
_SAME_NAMED_FOLLOWING = etree.XPath("count(following::*[name()=$name])")
_INSTRUCTIONS_IN_DOCUMENT = etree.XPath("//processing-instruction()")
_INSTRUCTIONS_IN_ELEMENT = etree.XPath(".//processing-instruction()")


class _Canonical:
    """The canonical octets of a node-set, and where a tag may be sought in them.

    Canonical XML writes every element as a start tag and an end tag, in
    document order, and escapes "<" everywhere but in markup; processing
    instructions are the one place where "<" stays unescaped outside a tag.
    """

    def __init__(self, octets: bytes, instructions_hold_markup: bool) -> None:
        self.octets = octets
        # Looking for instructions costs a scan of the whole text; only an
        # instruction that holds a "<" could be mistaken for a tag.
        self._instructions: list[tuple[int, int]] | None = (
            None if instructions_hold_markup else []
        )

    def _in_instruction(self, position: int) -> bool:
        if self._instructions is None:
            self._instructions = []
            start = self.octets.find(b"<?")
            while start >= 0:
                end = self.octets.find(b"?>", start + 2) + 2
                self._instructions.append((start, end))
                start = self.octets.find(b"<?", end)
        return any(low <= position < high for low, high in self._instructions)

    def _starts_tag(self, position: int, name: bytes) -> bool:
        after = position + 1 + len(name)
        return self.octets[after:after + 1] in (b" ", b">") and not self._in_instruction(position)

    def span(self, name: bytes, later: int) -> tuple[int, int]:
        """Where the element of this qualified name is written that has ``later`` elements
        of the same name starting after it. The signature sits near the end, so the
        search runs backwards."""
        opening, closing = b"<" + name, b"</" + name + b">"
        start = len(self.octets)
        while later >= 0:
            start = self.octets.rfind(opening, 0, start)
            if start < 0:
                raise _malformed(f"no {name.decode()} element in the canonical signed content")
            if self._starts_tag(start, name):
                later -= 1
        depth, position = 0, start
        while (close := self.octets.find(closing, position)) >= 0:
            nested = self.octets.find(opening, position, close)
            while nested >= 0:
                depth += self._starts_tag(nested, name)
                nested = self.octets.find(opening, nested + 1, close)
            position = close + len(closing)
            if not self._in_instruction(close):
                depth -= 1
                if depth == 0:
                    return start, position
        raise _malformed(f"the {name.decode()} element is not closed in the canonical form")


class _CanonicalForms:
    """Canonical forms of what references select, each computed once per verification.

    The signatures of a NAADS alert all select the same document, and its
    readings differ only by which Signature elements are cut out of it, so
    the document is canonicalised once and each reading is sliced from it.
    """

    def __init__(self) -> None:
        self._forms: dict[_Form, _Canonical] = {}
        self._cuts: dict[tuple[_Form, tuple[etree._Element, ...]], _Spans] = {}
        self._digests: dict[tuple[_Form, _Spans, type[hashes.HashAlgorithm]], bytes] = {}

    def _form(self, target: etree._Element | etree._ElementTree,
              transforms: _ReferenceTransforms) -> tuple[_Form, _Canonical]:
        whole = isinstance(target, etree._ElementTree)
        apex = target.getroot() if isinstance(target, etree._ElementTree) else target
        key = (apex, whole, transforms.canonicalization, tuple(transforms.inclusive_prefixes))
        if key not in self._forms:
            instructions = _INSTRUCTIONS_IN_DOCUMENT if whole else _INSTRUCTIONS_IN_ELEMENT
            found = instructions(target)
            marked = isinstance(found, list) and any(
                isinstance(each, etree._ProcessingInstruction) and "<" in (each.text or "")
                for each in found
            )
            self._forms[key] = _Canonical(canonicalize(
                target, transforms.canonicalization, transforms.inclusive_prefixes
            ), marked)
        return key, self._forms[key]

    def _cut(self, reading: _Reading, transforms: _ReferenceTransforms
             ) -> tuple[_Form, _Canonical, _Spans]:
        key, canonical = self._form(reading.target, transforms)
        if (key, reading.removed) not in self._cuts:
            apex = None if isinstance(reading.target, etree._ElementTree) else reading.target
            self._cuts[key, reading.removed] = tuple(sorted(
                _span(canonical, element, apex) for element in reading.removed
                if apex is None or _inside(element, apex)
            ))
        return key, canonical, self._cuts[key, reading.removed]

    def prepare(self, reading: _Reading, transforms: _ReferenceTransforms) -> None:
        """Canonicalise now, so that what cannot be canonicalised is found at once."""
        self._cut(reading, transforms)

    def digest(self, reading: _Reading, transforms: _ReferenceTransforms,
               algorithm: type[hashes.HashAlgorithm]) -> bytes:
        key, canonical, spans = self._cut(reading, transforms)
        if (key, spans, algorithm) not in self._digests:
            # The enveloped transform removes an element and keeps its tail
            # text, which canonical XML writes right after the end tag.
            starts = [start for start, _ in spans]
            ends = [end for _, end in spans]
            octets = memoryview(canonical.octets)
            self._digests[key, spans, algorithm] = _digest(algorithm, [
                octets[low:high] for low, high in zip([0, *ends], [*starts, None], strict=True)
            ])
        return self._digests[key, spans, algorithm]


def _qualified_name(element: etree._Element) -> str:
    localname = etree.QName(element).localname
    return f"{element.prefix}:{localname}" if element.prefix else localname


def _count(path: etree.XPath, element: etree._Element, name: str) -> int:
    counted = path(element, name=name)
    return int(counted) if isinstance(counted, float) else 0


def _span(canonical: _Canonical, element: etree._Element,
          apex: etree._Element | None) -> tuple[int, int]:
    """Where ``element`` is written in the canonical form of ``apex`` (None: the document)."""
    name = _qualified_name(element)
    later = _count(_SAME_NAMED_AFTER, element, name)
    if apex is not None:
        later -= _count(_SAME_NAMED_FOLLOWING, apex, name)
    return canonical.span(name.encode("utf-8"), later)


def _inside(element: etree._Element, container: etree._Element) -> bool:
    return element is container or any(
        ancestor is container for ancestor in element.iterancestors()
    )


@dataclass(frozen=True, slots=True)
class _Reading:
    """The referenced content with some Signature elements removed."""

    target: etree._Element | etree._ElementTree
    removed: tuple[etree._Element, ...]


def _target(signature: etree._Element, uri: str,
            removed: tuple[etree._Element, ...]) -> etree._Element | etree._ElementTree:
    document = signature.getroottree()
    if not uri:
        return document
    found = document.xpath("//*[@Id=$id or @ID=$id or @id=$id]", id=uri[1:])
    candidates = found if isinstance(found, list) else []
    # The Id is sought after the enveloped transform, so an element inside
    # a removed signature does not count.
    matches = [each for each in candidates if isinstance(each, etree._Element)
               and not any(_inside(each, gone) for gone in removed)]
    if len(matches) != 1:
        raise _malformed(f"reference URI {uri!r} matches {len(matches)} elements, not one")
    return matches[0]


def _readings(
    signature: etree._Element, reference: etree._Element, transforms: _ReferenceTransforms
) -> list[_Reading]:
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
    siblings = () if parent is None else tuple(parent.findall(f"{_DS}Signature"))
    removals = [(signature,)] if len(siblings) < 2 else [(signature,), siblings]
    readings = []
    for removal in removals:
        removed = removal if transforms.enveloped else ()
        readings.append(_Reading(_target(signature, uri, removed), removed))
    return readings


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


def _digest(algorithm: type[hashes.HashAlgorithm], pieces: Iterable[memoryview]) -> bytes:
    digest = hashes.Hash(algorithm())
    for piece in pieces:
        digest.update(piece)
    return digest.finalize()


@dataclass(frozen=True, slots=True)
class _Claim:
    """How a Signature says its SignedInfo was canonicalised and signed."""

    signed_info: etree._Element
    canonicalization_method: etree._Element
    canonicalization: Canonicalization
    method: SignatureMethod

    def signed(self) -> bytes:
        return canonicalize(self.signed_info, self.canonicalization,
                            _inclusive_prefixes(self.canonicalization_method))


def _claim(signature: etree._Element) -> _Claim:
    signed_info = _child(signature, "SignedInfo")
    canonicalization_method = _child(signed_info, "CanonicalizationMethod")
    canonicalization = _algorithm(canonicalization_method, CANONICALIZATIONS, "canonicalization")
    method = _algorithm(
        _child(signed_info, "SignatureMethod"), SIGNATURE_METHODS, "signature method"
    )
    return _Claim(signed_info, canonicalization_method, canonicalization, method)


@dataclass(frozen=True, slots=True)
class _Content:
    """What the one Reference covers, and the values said to be computed over it."""

    digest_algorithm: type[hashes.HashAlgorithm]
    digest_text: str | None
    signature_text: str | None
    transforms: _ReferenceTransforms
    readings: list[_Reading]

    def expected_digest(self) -> bytes:
        # A value that is not even base64 is a defect of that value alone,
        # whatever else happened to the document, so it is named first.
        try:
            return decode_base64(self.digest_text)
        except NotCanonicalBase64Error as error:
            raise _Failure(
                SignatureOutcome.DIGEST_MISMATCH,
                f"the DigestValue is {error}, so no digest can match",
            ) from None

    def signature_value(self) -> bytes:
        try:
            return decode_base64(self.signature_text)
        except NotCanonicalBase64Error as error:
            raise _Failure(
                SignatureOutcome.BAD_SIGNATURE, f"the signature value is {error}"
            ) from None

    def digest_matches(self, forms: _CanonicalForms, expected: bytes) -> bool:
        return any(
            forms.digest(reading, self.transforms, self.digest_algorithm) == expected
            for reading in self.readings
        )


def _content(signature: etree._Element, signed_info: etree._Element) -> _Content:
    references = signed_info.findall(f"{_DS}Reference")
    if len(references) != 1:
        raise _malformed(f"ambiguous signature: {len(references)} references")
    reference = references[0]
    digest_algorithm = _algorithm(_child(reference, "DigestMethod"), DIGESTS, "digest method")
    digest_text = _child(reference, "DigestValue").text
    signature_text = _child(signature, "SignatureValue").text
    transforms = _reference_transforms(reference)
    readings = _readings(signature, reference, transforms)
    return _Content(digest_algorithm, digest_text, signature_text, transforms, readings)


def _value_holds(key: PublicKey, method: SignatureMethod, value: bytes, signed: bytes) -> bool:
    try:
        return signature_value_holds(key, method, value, signed)
    except TypeError as error:
        raise _Failure(
            SignatureOutcome.BAD_SIGNATURE, f"the signature cannot be checked: {error}"
        ) from None


def _check_one(signature: etree._Element, forms: _CanonicalForms) -> Verification:
    certificate: x509.Certificate | None = None
    algorithm: str | None = None
    try:
        claim = _claim(signature)
        algorithm = claim.method.name
        content = _content(signature, claim.signed_info)
        for reading in content.readings:
            forms.prepare(reading, content.transforms)
        signed = claim.signed()
        key, certificate = _signing_key(signature)
        expected_digest = content.expected_digest()
        signature_value = content.signature_value()
        if not content.digest_matches(forms, expected_digest):
            raise _Failure(
                SignatureOutcome.DIGEST_MISMATCH,
                "the digest of the signed content differs from the DigestValue: "
                "the alert was changed after it was signed",
                well_formed=True,
            )
        if not _value_holds(key, claim.method, signature_value, signed):
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


def _holds(signature: etree._Element, forms: _CanonicalForms) -> bool:
    # The same checks as _check_one, cheapest first: the signature value
    # covers only the small SignedInfo, the digest the whole document.
    try:
        claim = _claim(signature)
        content = _content(signature, claim.signed_info)
        key, _ = _signing_key(signature)
        expected_digest = content.expected_digest()
        value = content.signature_value()
        return _value_holds(key, claim.method, value, claim.signed()) and \
            content.digest_matches(forms, expected_digest)
    except (_Failure, etree.C14NError):
        return False


def _check_each(root: etree._Element) -> list[Verification]:
    signatures = root.findall(f"{_DS}Signature")
    if not signatures:
        if root.find(f".//{_DS}Signature") is not None:
            reason = "the signature is not a child of the alert"
            return [Verification(SignatureOutcome.MALFORMED, reason)]
        return [Verification(SignatureOutcome.NO_SIGNATURE, "the alert carries no signature")]
    forms = _CanonicalForms()
    return [_check_one(signature, forms) for signature in signatures]


def _first_failure(verifications: list[Verification]) -> Verification | None:
    return next((verification for verification in verifications if not verification.valid), None)


def check_signature(root: etree._Element) -> Verification:
    """Integrity only: the digest and the signature value, against the KeyInfo key.

    An alert relayed through NAADS carries two signatures; every one of them
    must hold. No trust decision is made here.
    """
    verifications = _check_each(root)
    return _first_failure(verifications) or verifications[0]


def signature_holds(root: etree._Element) -> bool:
    """``check_signature(root).valid``, found out with the cheapest checks first."""
    signatures = root.findall(f"{_DS}Signature")
    forms = _CanonicalForms()
    return bool(signatures) and all(_holds(signature, forms) for signature in signatures)


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
