"""The register of signing authorities: loading, errors naming the field, and lookups."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from publisher.cap.authorities import RegistryError, load_authorities
from publisher.cap.keys import generate_demo_identity


@pytest.fixture
def certificate_file(tmp_path: Path) -> Path:
    return generate_demo_identity(tmp_path / "keys", common_name="Haidian Water Authority")[1]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "authorities.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_registry_finds_authority_and_its_certificate(tmp_path: Path,
                                                      certificate_file: Path) -> None:
    path = _write(tmp_path, f"""
[[authority]]
sender = "water@haidian.example"
name = "Haidian Water Authority"
certificates = ["{certificate_file.relative_to(tmp_path)}"]
requires_signature = true
""")
    registry = load_authorities(path)
    authority = registry.for_sender("water@haidian.example")
    assert authority is not None and authority.requires_signature
    assert authority.holds(x509.load_pem_x509_certificate(certificate_file.read_bytes()))
    other = generate_demo_identity(tmp_path / "other")[1]
    assert not authority.holds(x509.load_pem_x509_certificate(other.read_bytes()))
    assert registry.for_sender("someone@else.example") is None
    assert len(registry.certificates()) == 1


@pytest.mark.parametrize(("text", "message"), [
    ('[[authority]]\nname = "x"\n', r"authority\[0\]\.sender: required text is missing"),
    ('[[authority]]\nsender = "s"\nname = "n"\nrequires_signature = true\n',
     r"authority\[0\]\.certificates: required when requires_signature is true"),
    ('[[authority]]\nsender = "s"\nname = "n"\ncertificates = ["missing.pem"]\n',
     r"authority\[0\]\.certificates: .*missing\.pem"),
    ('[[authority]]\nsender = "s"\nname = "n"\ncertificates = "one.pem"\n',
     r"authority\[0\]\.certificates: must be a list"),
    ("[[authority]\n", r"authorities\.toml"),
])
def test_registry_errors_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        load_authorities(_write(tmp_path, text))
