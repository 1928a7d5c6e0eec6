"""How validation weighs a signature: broken elements, re-indentation, registered senders."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from publisher.cap.authorities import Authority, AuthorityRegistry
from publisher.cap.document import check_document
from publisher.cap.keys import generate_demo_identity
from publisher.cap.signing import load_certificates, sign_alert_xml
from publisher.cap.writer import write_alert
from publisher.sample_alert import rainstorm_red_warning

SENDER = "bjmb@weather.bj.gov.cn"


def _registry(cert: Path, *, requires_signature: bool = True) -> AuthorityRegistry:
    return AuthorityRegistry([Authority(SENDER, "Beijing Meteorological Observatory",
                                        tuple(load_certificates([cert])), requires_signature)])


def _signature_findings(data: bytes, registry: AuthorityRegistry | None = None) -> list[str]:
    report = check_document(data, authorities=registry)
    return [f"{problem.level}: {problem.reason}" for problem in report.problems
            if problem.path == "Signature"]


def _tampered(signed: bytes) -> bytes:
    return signed.replace(b"<event>Rainstorm</event>", b"<event>Rainstorn</event>")


def _reindented(signed: bytes) -> bytes:
    root = etree.fromstring(signed)
    etree.indent(root, space="    ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_intact_signature_has_no_finding(signed: bytes, identity: tuple[Path, Path]) -> None:
    assert _signature_findings(signed) == []
    assert _signature_findings(signed, _registry(identity[1])) == []


def test_tampering_is_an_error_for_a_registered_authority(
        signed: bytes, identity: tuple[Path, Path]) -> None:
    [finding] = _signature_findings(_tampered(signed), _registry(identity[1]))
    assert finding.startswith("error: the digest of the signed content differs")


def test_tampering_is_a_warning_for_an_unregistered_sender(signed: bytes) -> None:
    [finding] = _signature_findings(_tampered(signed))
    assert finding.startswith("warning: the digest")
    assert "treated as unsigned" in finding


def _compact(document: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.tostring(etree.fromstring(document, parser), xml_declaration=True,
                          encoding="UTF-8")


def test_indentation_added_after_signing_is_a_warning(identity: tuple[Path, Path]) -> None:
    # Publishers that sign compact XML and pretty-print it afterwards.
    unsigned = _compact(write_alert(rainstorm_red_warning(datetime(2026, 7, 1, 3, 0, tzinfo=UTC))))
    key, cert = identity
    signed = sign_alert_xml(unsigned, key.read_bytes(), cert.read_bytes())
    assert _signature_findings(signed, _registry(cert)) == []
    [finding] = _signature_findings(_reindented(signed), _registry(cert))
    assert finding.startswith("warning: the signature holds only once the indentation")


def test_indentation_does_not_hide_tampering(signed: bytes, identity: tuple[Path, Path]) -> None:
    [finding] = _signature_findings(_reindented(_tampered(signed)), _registry(identity[1]))
    assert finding.startswith("error: the digest")


def test_unsigned_message_of_a_signing_authority_is_an_error(
        unsigned_alert: bytes, identity: tuple[Path, Path]) -> None:
    unsigned = unsigned_alert
    [finding] = _signature_findings(unsigned, _registry(identity[1]))
    assert finding.startswith("error: no signature, but sender bjmb@weather.bj.gov.cn")
    optional = _registry(identity[1], requires_signature=False)
    assert _signature_findings(unsigned, optional) == []


def test_signature_by_another_certificate_is_untrusted(signed: bytes, tmp_path: Path) -> None:
    other = generate_demo_identity(tmp_path / "other")[1]
    [finding] = _signature_findings(signed, _registry(other))
    assert finding.startswith("error: untrusted certificate")


def test_broken_signature_element_is_an_error_for_anyone(signed: bytes) -> None:
    start = signed.index(b"<ds:SignatureValue>") + len(b"<ds:SignatureValue>")
    broken = signed[:start] + b"not base64!" + signed[start:]
    [finding] = _signature_findings(broken)
    assert finding.startswith("error: the signature value is not")


def test_elided_signature_is_a_warning(unsigned_alert: bytes) -> None:
    elided = unsigned_alert.replace(
        b"</alert>", b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">...</Signature></alert>')
    [finding] = _signature_findings(elided)
    assert finding.startswith("warning: the Signature element is empty")
