"""``publisher agency add|load|list|remove`` on a fresh installation."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from publisher.cli import main
from publisher.cli_errors import EXIT_INVALID, EXIT_OK
from publisher.config import load_settings
from publisher.sim.agency_sender import agency_identity
from publisher.store.db import make_engine, make_session_factory, session_scope
from publisher.store.models import Agency, AuditEntry

CONFIG = Path(__file__).resolve().parents[2] / "config" / "agencies.toml"


def _run(capsys: pytest.CaptureFixture[str], data_dir: Path, *arguments: str
         ) -> tuple[int, str, str]:
    code = main([*arguments, "--data-dir", str(data_dir)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _stored(data_dir: Path) -> tuple[dict[str, tuple[str, bool]], list[str]]:
    engine = make_engine(load_settings({}, data_dir=data_dir).database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            agencies = {agency.code: (agency.credential_sha256, agency.direct_publish)
                        for agency in session.scalars(select(Agency))}
            actors = [entry.actor for entry in session.scalars(
                select(AuditEntry).where(AuditEntry.action.like("%agency")))]
    finally:
        engine.dispose()
    return agencies, actors


def test_the_demo_file_loads_once_and_agencies_are_added_and_removed(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for code in ("weather", "earthquake"):
        agency_identity(tmp_path, code, code)
    code, out, _ = _run(capsys, tmp_path, "agency", "load", str(CONFIG))
    assert code == EXIT_OK
    credential = out.split()[0]
    agencies, _ = _stored(tmp_path)
    assert agencies["weather"] == (hashlib.sha256(credential.encode()).hexdigest(), False)
    assert agencies["earthquake"][1] is True
    code, out, err = _run(capsys, tmp_path, "agency", "load", str(CONFIG))
    assert (code, out) == (EXIT_OK, "")
    assert "registered already" in err

    certificate = tmp_path / "agencies" / "weather" / "cert.pem"
    code, _, err = _run(capsys, tmp_path, "agency", "add", "health", "--name", "Health",
                        "--sender", "cdc@health.bj.gov.cn", "--certificate", str(certificate),
                        "--event-code", "hazard=epidemic", "--district", "1101",
                        "--status", "Actual")
    assert (code, err.strip()) == (EXIT_INVALID, "publisher: permissions.districts: '1101' is"
                                                 " not a 6-digit GB/T 2260 code")
    code, out, _ = _run(capsys, tmp_path, "agency", "list")
    assert [line.split()[0] for line in out.splitlines()] == ["AGENCY", "earthquake", "weather"]
    code, _, _ = _run(capsys, tmp_path, "agency", "remove", "weather")
    assert code == EXIT_OK
    agencies, actors = _stored(tmp_path)
    assert set(agencies) == {"earthquake"}
    assert actors == ["system:publisher agency"] * 3
