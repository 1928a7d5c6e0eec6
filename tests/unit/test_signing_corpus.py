"""Every signature in the real-world corpus, and every tampered sample, through the verifier.

The table says what each real signature gives and, for those that do not
verify, why. A signed file missing from the table fails the test, so a new
corpus file is looked at rather than passed over.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree

from publisher.cap.signature_verify import _check_each
from publisher.cap.signing import SignatureOutcome, check_signature, verify_alert_xml
from publisher.cap.xmlsafe import XmlLimits, parse_untrusted_xml
from tests.corpus import corpus_files, corpus_params

pytestmark = pytest.mark.corpus

DS = "{http://www.w3.org/2000/09/xmldsig#}"
VALID = SignatureOutcome.VALID
DIGEST = SignatureOutcome.DIGEST_MISMATCH
LARGE = XmlLimits(max_bytes=4 * 1024 * 1024)

REINDENTED = (
    "re-serialised after signing: the file starts with "
    "<?xml version='1.0' encoding='UTF-8' standalone='no'?>, is indented, and "
    "its X509Certificate is broken over lines, so the signed bytes are gone"
)
WMO_COMPACT = (
    "the WMO alert hub signs the compact alert and publishes it indented; "
    "see test_wmo_alert_hub_digest_matches_the_compact_alert"
)

# file name -> (outcome of each Signature, in document order; why, when not VALID)
REAL_SIGNATURES: dict[str, tuple[tuple[SignatureOutcome, ...], str]] = {
    "cpl_CanadaNaad.xml": ((VALID, VALID), "NAADS: both signatures cover the unsigned alert"),
    "cpl_no_info_tag.cap": ((VALID,), "IPAWS (AtHoc), RSA-SHA256 over a SHA-1 digest"),
    "cpl_ph.cap": ((VALID,), "PAGASA, RSA-SHA1 with a bare RSAKeyValue"),
    "gcap_canada_signed.cap": ((VALID, VALID), "NAADS, RSA-SHA1"),
    "gcap_earthquake-iso8859-1.cap": ((VALID,), "CISN, RSA-SHA1, c14n with comments"),
    "gcap_earthquake_signed.cap": ((VALID,), "CISN, RSA-SHA1, c14n with comments"),
    "gcca_alert_1.xml": ((DIGEST, DIGEST), REINDENTED),
    "gcca_alert_2.xml": ((DIGEST, DIGEST), REINDENTED),
    "gcca_alert_3.xml": ((VALID, VALID), "NAADS"),
    "gcca_alert_4.xml": ((VALID,), "NAADS, a single signature over a 1 MB alert"),
    "gcca_alert_5.xml": ((VALID, VALID), "NAADS"),
    "kde_TMD25680225051318_2.xml": (
        (DIGEST,),
        "re-serialised by the KDE aggregator with ElementTree (ns1: prefixes)",
    ),
    "oasiscap_google-PAAQ-4-mg5a94.xml": (
        (SignatureOutcome.MALFORMED,),
        "the fixture replaced the signature's content with '...'",
    ),
    "oasiscap_ipaws-5e6dd964023f1930ef638846.xml": ((VALID,), "IPAWS"),
    "oasiscap_ipaws-5e6dd9de023f1930ef6548d9.xml": ((VALID,), "IPAWS"),
    "oasiscap_ipaws-5e6ddbad023f1930ef6c1a5a.xml": ((VALID,), "IPAWS"),
    "oasiscap_ipaws-5e7e0fc5023f1930efcf3deb.xml": ((VALID,), "IPAWS"),
    "oasiscap_ipaws-5ea321f39fc226a7b44b6874.xml": ((VALID,), "IPAWS"),
    "wmocv_bf_valid.xml": ((DIGEST,), WMO_COMPACT),
    "wmocv_sc_valid.xml": ((DIGEST,), WMO_COMPACT),
    "wmocv_tg_valid.xml": ((DIGEST,), WMO_COMPACT),
    "wmocv_bz_valid.xml": (
        (DIGEST,),
        "changed after signing: no reading reproduces the digest (as published, compact, "
        "with or without the stylesheet instruction, inclusive or exclusive c14n); "
        "signxml 5.2, which the WMO validator uses, rejects it too",
    ),
    "wmocv_cm_valid.xml": ((DIGEST,), "same origin and defect as wmocv_bz_valid.xml"),
    "wmocv_ca_valid.xml": ((DIGEST, DIGEST), REINDENTED),
}


def _read(path: Path) -> etree._Element:
    return parse_untrusted_xml(path.read_bytes(), LARGE)


def _is_signed(path: Path) -> bool:
    data = path.read_bytes()
    return b"http://www.w3.org/2000/09/xmldsig#" in data and b"Signature" in data


def test_every_signed_real_file_is_accounted_for() -> None:
    signed = {path.name for path in corpus_files("real") if _is_signed(path)}
    assert signed == set(REAL_SIGNATURES)


@pytest.mark.parametrize("path", corpus_params("real"))
def test_real_signature(path: Path) -> None:
    if path.name not in REAL_SIGNATURES:
        assert not _is_signed(path)
        assert check_signature(_read(path)).outcome is SignatureOutcome.NO_SIGNATURE
        return
    expected, why = REAL_SIGNATURES[path.name]
    outcomes = tuple(verification.outcome for verification in _check_each(_read(path)))
    assert outcomes == expected, why


BARE_KEY = ("cpl_ph.cap", "gcap_earthquake_signed.cap", "gcap_earthquake-iso8859-1.cap")
# Over the 1 MB intake limit of verify_alert_xml (an embedded audio resource).
OVERSIZE = ("gcca_alert_4.xml",)


@pytest.mark.parametrize(
    "name",
    [
        name
        for name, (outcomes, _) in REAL_SIGNATURES.items()
        if set(outcomes) == {VALID} and name not in BARE_KEY + OVERSIZE
    ],
)
def test_real_signature_is_trusted_when_its_certificate_is(name: str) -> None:
    data = next(path for path in corpus_files("real") if path.name == name).read_bytes()
    certificates = [each.certificate for each in _check_each(parse_untrusted_xml(data))]
    moment = certificates[0].not_valid_before_utc + timedelta(seconds=1)
    verification = verify_alert_xml(data, certificates[:1], at=moment)
    assert verification.outcome is VALID, verification.reason
    assert verification.certificate == certificates[0]
    untrusted = verify_alert_xml(data, [], at=moment)
    assert untrusted.outcome is SignatureOutcome.UNTRUSTED_CERTIFICATE


@pytest.mark.parametrize("name", BARE_KEY)
def test_a_bare_key_value_holds_but_cannot_be_trusted(name: str) -> None:
    path = next(path for path in corpus_files("real") if path.name == name)
    integrity = check_signature(_read(path))
    assert integrity.valid
    assert integrity.certificate is None
    verification = verify_alert_xml(path.read_bytes(), [])
    assert verification.outcome is SignatureOutcome.UNTRUSTED_CERTIFICATE
    assert "no certificate" in verification.reason


@pytest.mark.parametrize("name", ["wmocv_bf_valid.xml", "wmocv_sc_valid.xml", "wmocv_tg_valid.xml"])
def test_wmo_alert_hub_digest_matches_the_compact_alert(name: str) -> None:
    # Parsing without blank text undoes the indentation the hub added after
    # signing; the signed bytes then reappear, which is the whole explanation.
    path = next(path for path in corpus_files("real") if path.name == name)
    root = etree.fromstring(path.read_bytes(), etree.XMLParser(remove_blank_text=True))
    signature = root.find(f"{DS}Signature")
    digest_value = base64.b64decode(
        signature.findtext(f"{DS}SignedInfo/{DS}Reference/{DS}DigestValue")
    )
    compact = copy.deepcopy(root)
    compact.remove(compact.find(f"{DS}Signature"))
    assert (
        hashlib.sha256(etree.tostring(compact, method="c14n", exclusive=True)).digest()
        == digest_value
    )
    as_published = copy.deepcopy(_read(path))
    as_published.remove(as_published.find(f"{DS}Signature"))
    assert hashlib.sha256(etree.tostring(as_published, method="c14n")).digest() != digest_value


def _expected_tampering(name: str) -> tuple[SignatureOutcome, str] | None:
    if name.endswith(("_invalid_digest.xml", "_incorrect_digest.xml")):
        return SignatureOutcome.DIGEST_MISMATCH, "digest"
    if name.endswith(("_invalid_signature.xml", "_incorrect_signature.xml")):
        return SignatureOutcome.BAD_SIGNATURE, "signature"
    if name.endswith("_invalid_certificate.xml"):
        return SignatureOutcome.UNTRUSTED_CERTIFICATE, "certificate"
    if name.endswith("_no_signature.xml"):
        return SignatureOutcome.NO_SIGNATURE, "no signature"
    return None


TAMPERED = [
    param
    for param in corpus_params("invalid")
    if not isinstance(param.values[0], Path) or _expected_tampering(param.values[0].name)
]


@pytest.mark.parametrize("path", TAMPERED)
def test_tampered_sample_gives_the_matching_outcome(path: Path) -> None:
    expected = _expected_tampering(path.name)
    assert expected is not None
    outcome, word = expected
    verification = verify_alert_xml(path.read_bytes(), [])
    assert verification.outcome is outcome, verification.reason
    assert word in verification.reason


def test_the_tampered_samples_are_all_there() -> None:
    names = {path.name for path in corpus_files("invalid") if _expected_tampering(path.name)}
    assert len(names) == 18
