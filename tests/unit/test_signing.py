"""Signing with the demo identity, and the verifier's verdict on each kind of damage."""

from __future__ import annotations

import base64
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner

from publisher.cap.keys import generate_demo_identity
from publisher.cap.signature_algorithms import (
    SIGNATURE_METHODS,
    NotCanonicalBase64Error,
    decode_base64,
    signature_value_holds,
)
from publisher.cap.signing import (
    SignatureOutcome,
    SigningError,
    check_signature,
    load_certificates,
    sign_alert_xml,
    verify_alert_xml,
)
from publisher.cap.writer import write_alert
from publisher.cap.xmlsafe import parse_untrusted_xml
from publisher.sample_alert import rainstorm_red_warning

DS = "{http://www.w3.org/2000/09/xmldsig#}"
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "publisher" / "cap" / "schema" / "CAP-v1.2.xsd"
MORE = "http://www.w3.org/2001/04/xmldsig-more#"

ALERT = write_alert(rainstorm_red_warning(datetime(2024, 7, 30, 8, 0, tzinfo=UTC)))
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


@pytest.fixture(scope="module")
def trusted(identity: tuple[Path, Path]) -> list[x509.Certificate]:
    return load_certificates([identity[1]])


def _replace_once(document: bytes, old: bytes, new: bytes) -> bytes:
    assert document.count(old) == 1
    return document.replace(old, new)


def _self_signed(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_signed_alert_still_validates_against_the_cap_schema(signed: bytes) -> None:
    schema = etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))
    tree = parse_untrusted_xml(signed)
    assert schema.validate(tree), schema.error_log


def test_signature_is_the_last_child_and_follows_the_ipaws_profile(signed: bytes) -> None:
    root = parse_untrusted_xml(signed)
    signature = root[-1]
    assert signature.tag == f"{DS}Signature"
    assert signature.find(f"{DS}SignedInfo/{DS}CanonicalizationMethod").get("Algorithm") == (
        "http://www.w3.org/2001/10/xml-exc-c14n#"
    )
    assert signature.find(f"{DS}SignedInfo/{DS}SignatureMethod").get("Algorithm") == (
        f"{MORE}rsa-sha256"
    )
    references = signature.findall(f"{DS}SignedInfo/{DS}Reference")
    assert [reference.get("URI") for reference in references] == [""]
    assert signature.find(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate") is not None


def test_round_trip_is_valid(signed: bytes, trusted: list[x509.Certificate]) -> None:
    verification = verify_alert_xml(signed, trusted)
    assert verification.outcome is SignatureOutcome.VALID, verification.reason
    assert verification.certificate == trusted[0]
    assert verification.algorithm == "RSA-SHA256"


def test_a_changed_letter_of_the_headline_is_a_digest_mismatch(
    signed: bytes, trusted: list[x509.Certificate]
) -> None:
    headline = parse_untrusted_xml(signed).findtext(f"{CAP}info/{CAP}headline")
    tampered = _replace_once(signed, headline.encode(), (headline[:-1] + "!").encode())
    verification = verify_alert_xml(tampered, trusted)
    assert verification.outcome is SignatureOutcome.DIGEST_MISMATCH
    assert "digest" in verification.reason


def test_a_changed_signature_value_is_a_bad_signature(
    signed: bytes, trusted: list[x509.Certificate]
) -> None:
    root = parse_untrusted_xml(signed)
    value_element = root.find(f"{DS}Signature/{DS}SignatureValue")
    value = bytearray(decode_base64(value_element.text))
    value[10] ^= 0x01
    value_element.text = base64.b64encode(bytes(value)).decode()
    verification = verify_alert_xml(etree.tostring(root), trusted)
    assert verification.outcome is SignatureOutcome.BAD_SIGNATURE
    assert "signature" in verification.reason


def test_another_trusted_certificate_leaves_the_signer_untrusted(signed: bytes) -> None:
    _, stranger = _self_signed("Someone Else")
    verification = verify_alert_xml(signed, [stranger])
    assert verification.outcome is SignatureOutcome.UNTRUSTED_CERTIFICATE
    assert "certificate" in verification.reason


def test_a_moment_after_not_after_is_an_expired_certificate(
    signed: bytes, trusted: list[x509.Certificate]
) -> None:
    later = trusted[0].not_valid_after_utc + timedelta(seconds=1)
    verification = verify_alert_xml(signed, trusted, at=later)
    assert verification.outcome is SignatureOutcome.EXPIRED_CERTIFICATE
    assert "certificate" in verification.reason
    assert verify_alert_xml(signed, trusted, at=later - timedelta(days=1)).valid


def test_an_unsigned_alert_has_no_signature(trusted: list[x509.Certificate]) -> None:
    verification = verify_alert_xml(ALERT, trusted)
    assert verification.outcome is SignatureOutcome.NO_SIGNATURE
    assert "no signature" in verification.reason


def test_two_references_are_ambiguous(signed: bytes, trusted: list[x509.Certificate]) -> None:
    root = parse_untrusted_xml(signed)
    signed_info = root.find(f"{DS}Signature/{DS}SignedInfo")
    reference = signed_info.find(f"{DS}Reference")
    reference.addnext(etree.fromstring(etree.tostring(reference)))
    verification = check_signature(root)
    assert verification.outcome is SignatureOutcome.MALFORMED
    assert verification.reason == "ambiguous signature: 2 references"


def test_an_unsupported_transform_is_malformed(signed: bytes) -> None:
    tampered = _replace_once(
        signed,
        b"http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        b"http://www.w3.org/TR/1999/REC-xpath-19991116",
    )
    verification = check_signature(parse_untrusted_xml(tampered))
    assert verification.outcome is SignatureOutcome.MALFORMED
    assert "transform" in verification.reason


def test_an_unreadable_certificate_is_a_certificate_outcome(signed: bytes) -> None:
    root = parse_untrusted_xml(signed)
    certificate = root.find(f"{DS}Signature/{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    certificate.text = base64.b64encode(b"not a certificate at all").decode()
    verification = check_signature(root)
    assert verification.outcome is SignatureOutcome.UNTRUSTED_CERTIFICATE
    assert "certificate" in verification.reason


def test_a_certificate_issued_by_a_trusted_authority_is_trusted() -> None:
    authority_key, authority = _self_signed("Demo Root")
    signer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Haidian node")]))
        .issuer_name(authority.subject)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=10))
        .sign(authority_key, hashes.SHA256())
    )
    document = sign_alert_xml(
        ALERT, _pem(signer_key), leaf.public_bytes(serialization.Encoding.PEM)
    )
    assert verify_alert_xml(document, [authority]).valid
    _, other_authority = _self_signed("Demo Root")
    assert (
        verify_alert_xml(document, [other_authority]).outcome
        is SignatureOutcome.UNTRUSTED_CERTIFICATE
    )


def test_a_reference_to_an_id_is_resolved() -> None:
    key, certificate = _self_signed("Id signer")
    root = parse_untrusted_xml(ALERT)
    root.set("Id", "alert-1")
    signed_root = XMLSigner(c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#").sign(
        root, key=key, cert=certificate.public_bytes(serialization.Encoding.PEM).decode()
    )
    reference = signed_root.find(f"{DS}Signature/{DS}SignedInfo/{DS}Reference")
    assert reference.get("URI") == "#alert-1"
    assert check_signature(signed_root).valid
    signed_root.find(f"{CAP}identifier").text = "BJ-2024-0002"
    assert check_signature(signed_root).outcome is SignatureOutcome.DIGEST_MISMATCH


def test_already_signed_alerts_are_not_signed_again(
    signed: bytes, identity: tuple[Path, Path]
) -> None:
    key_path, certificate_path = identity
    with pytest.raises(SigningError, match="already signed"):
        sign_alert_xml(signed, key_path.read_bytes(), certificate_path.read_bytes())


def test_an_unreadable_key_is_reported_without_its_bytes(identity: tuple[Path, Path]) -> None:
    garbage = (
        b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(SigningError) as caught:
        sign_alert_xml(ALERT, garbage, identity[1].read_bytes())
    assert b"c2VjcmV0" not in str(caught.value).encode()


@pytest.mark.parametrize(
    "curve, uri", [(ec.SECP256R1(), "ecdsa-sha256"), (ec.SECP384R1(), "ecdsa-sha384")]
)
def test_ecdsa_values_are_raw_r_and_s(curve: ec.EllipticCurve, uri: str) -> None:
    method = SIGNATURE_METHODS[f"{MORE}{uri}"]
    key = ec.generate_private_key(curve)
    data = b"<SignedInfo></SignedInfo>"
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(method.hash_algorithm())))
    size = (curve.key_size + 7) // 8
    raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    assert signature_value_holds(key.public_key(), method, raw, data)
    assert not signature_value_holds(key.public_key(), method, raw, data + b" ")
    assert not signature_value_holds(key.public_key(), method, raw[:-1], data)


def test_an_rsa_method_with_an_ec_key_cannot_be_checked() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(TypeError, match="cannot make"):
        signature_value_holds(key.public_key(), SIGNATURE_METHODS[f"{MORE}rsa-sha256"], b"x", b"y")


@pytest.mark.parametrize("text", ["sR3y=", "IncorrectSignatureValue", "n58=x", "QQ=="[:-1] + "R"])
def test_non_canonical_base64_is_refused(text: str) -> None:
    with pytest.raises(NotCanonicalBase64Error):
        decode_base64(text)


def test_base64_may_be_broken_over_lines() -> None:
    assert decode_base64("  aGVs\n bG8=\n") == b"hello"


def test_demo_identity_files(tmp_path: Path) -> None:
    key_path, certificate_path = generate_demo_identity(
        tmp_path, common_name="Test Center", days=30
    )
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 3072
    assert b"BEGIN PRIVATE KEY" in key_path.read_bytes()
    certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
    assert certificate.subject == certificate.issuer
    assert certificate.subject.rfc4514_string() == "CN=Test Center"
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert timedelta(days=30) <= lifetime <= timedelta(days=30, minutes=10)
    assert certificate.public_key() == key.public_key()


def test_demo_identity_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_text("existing")
    with pytest.raises(FileExistsError, match=r"key\.pem"):
        generate_demo_identity(tmp_path)
    assert (tmp_path / "key.pem").read_text() == "existing"
    assert not (tmp_path / "cert.pem").exists()


def test_load_certificates_reads_every_certificate_of_each_file(tmp_path: Path) -> None:
    _, first = _self_signed("First")
    _, second = _self_signed("Second")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (first, second))
    )
    assert load_certificates([bundle]) == [first, second]
    broken = tmp_path / "broken.pem"
    broken.write_text("no certificate here")
    with pytest.raises(ValueError, match=r"broken\.pem"):
        load_certificates([broken])
