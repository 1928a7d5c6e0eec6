"""The center's signing identity: made once, reused, never shown."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.cap.signing import SigningError, read_signing_key
from publisher.cap.writer import write_alert
from publisher.config import Settings, load_settings
from publisher.sample_alert import rainstorm_red_warning
from publisher.services.signer import CenterSigner, SignerSetupError


def test_the_identity_is_reused_and_the_key_never_shown(center_settings: Settings,
                                                        center_signer: CenterSigner) -> None:
    again = CenterSigner.load_or_create(center_settings)
    assert again.key_pem == center_signer.key_pem
    shown = repr(again)
    assert "PRIVATE" not in shown
    assert again.key_pem.decode() not in shown
    assert "Beijing Warning Center" in shown
    assert (center_settings.paths.keys_dir / "key.pem").stat().st_mode & 0o077 == 0


def test_half_an_identity_is_refused(tmp_path: Path, center_settings: Settings) -> None:
    settings = load_settings({}, data_dir=tmp_path)
    settings.paths.keys_dir.mkdir(parents=True)
    (settings.paths.keys_dir / "cert.pem").write_bytes(
        (center_settings.paths.keys_dir / "cert.pem").read_bytes())
    with pytest.raises(SignerSetupError, match=r"key\.pem"):
        CenterSigner.load_or_create(settings)
    assert not (settings.paths.keys_dir / "key.pem").exists()


def test_the_key_is_read_at_load_not_at_the_first_message(tmp_path: Path) -> None:
    settings = load_settings({}, data_dir=tmp_path)
    signer = CenterSigner.load_or_create(settings)
    read = read_signing_key.cache_info().misses
    signer.sign(write_alert(rainstorm_red_warning(datetime.now(UTC).replace(microsecond=0))))
    assert read_signing_key.cache_info().misses == read


def test_a_key_that_cannot_sign_stops_the_load(tmp_path: Path,
                                               center_settings: Settings) -> None:
    settings = load_settings({}, data_dir=tmp_path)
    settings.paths.keys_dir.mkdir(parents=True)
    (settings.paths.keys_dir / "cert.pem").write_bytes(
        (center_settings.paths.keys_dir / "cert.pem").read_bytes())
    (settings.paths.keys_dir / "key.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                                      b"-----END PRIVATE KEY-----\n")
    with pytest.raises(SigningError, match="cannot be read"):
        CenterSigner.load_or_create(settings)
