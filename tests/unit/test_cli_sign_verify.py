"""Sign, verify and tamper through the `publisher cap` command."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.cap.writer import write_alert
from publisher.cli import main
from publisher.sample_alert import rainstorm_red_warning


@pytest.fixture
def identity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    assert main(["cap", "keygen", str(tmp_path / "keys")]) == 0
    capsys.readouterr()
    return tmp_path / "keys" / "key.pem", tmp_path / "keys" / "cert.pem"


@pytest.fixture
def signed_file(tmp_path: Path, identity: tuple[Path, Path],
                capsys: pytest.CaptureFixture[str]) -> Path:
    unsigned = tmp_path / "alert.xml"
    unsigned.write_bytes(write_alert(rainstorm_red_warning(datetime.now(UTC))))
    signed = tmp_path / "alert.signed.xml"
    key, cert = identity
    code = main(["cap", "sign", "--key", str(key), "--cert", str(cert), str(unsigned),
                 "-o", str(signed)])
    assert code == 0, capsys.readouterr().err
    return signed


def test_keygen_refuses_to_overwrite(identity: tuple[Path, Path],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cap", "keygen", str(identity[0].parent)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err


def test_signed_alert_verifies(signed_file: Path, identity: tuple[Path, Path],
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cap", "verify", "--trust", str(identity[1]), str(signed_file)]) == 0
    assert ": valid: signed by " in capsys.readouterr().out
    assert main(["cap", "validate", "--profile", "municipal", str(signed_file)]) == 0


def test_one_changed_byte_of_the_body_fails_with_digest(
        signed_file: Path, identity: tuple[Path, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    data = signed_file.read_bytes()
    position = data.index(b"<event>Rainstorm") + len(b"<event>")
    signed_file.write_bytes(data[:position] + b"r" + data[position + 1:])
    assert main(["cap", "verify", "--trust", str(identity[1]), str(signed_file)]) == 1
    out = capsys.readouterr().out
    assert "invalid" in out
    assert "digest" in out


def test_untrusted_signer_is_refused(signed_file: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cap", "keygen", str(tmp_path / "other")]) == 0
    assert main(["cap", "verify", "--trust", str(tmp_path / "other" / "cert.pem"),
                 str(signed_file)]) == 1
    assert "certificate" in capsys.readouterr().out


def test_signing_an_invalid_alert_is_refused(tmp_path: Path, identity: tuple[Path, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_bytes(write_alert(rainstorm_red_warning(datetime.now(UTC))).replace(
        b"<scope>Public</scope>", b""))
    key, cert = identity
    assert main(["cap", "sign", "--key", str(key), "--cert", str(cert), str(broken)]) == 1
    assert "scope" in capsys.readouterr().err


HOSTILE = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY a "hello"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&b;</identifier></alert>
"""


def test_doctype_is_refused_without_a_crash(tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.xml"
    hostile.write_bytes(HOSTILE)
    # A separate process: a parser crash would show as a signal, not as exit 1.
    finished = subprocess.run(
        [sys.executable, "-m", "publisher.cli", "cap", "validate", str(hostile)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert finished.returncode == 1, finished
    assert "DOCTYPE declarations are refused" in finished.stdout
