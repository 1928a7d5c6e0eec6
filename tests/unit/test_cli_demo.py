"""`publisher demo` runs what exists and says plainly what does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.cli import main


def test_demo_composes_signs_and_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PUBLISHER_DATA_DIR", str(tmp_path))
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "verified it: valid" in out
    assert "Not built yet, so not running:" in out
    signed = tmp_path / "demo" / "rainstorm-red.signed.xml"
    assert b"<status>Exercise</status>" in signed.read_bytes()
    assert main(["cap", "verify", "--trust", str(tmp_path / "keys" / "cert.pem"),
                 str(signed)]) == 0
    assert main(["cap", "validate", "--profile", "municipal", str(signed)]) == 0
    # A second run keeps the center's key instead of minting a new one.
    key_before = (tmp_path / "keys" / "key.pem").read_bytes()
    assert main(["demo"]) == 0
    assert (tmp_path / "keys" / "key.pem").read_bytes() == key_before
