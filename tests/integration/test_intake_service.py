"""The intake's use cases on SQLite and PostgreSQL: registry, dedup, queue or publish, report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import load_districts
from publisher.cap.model import Status
from publisher.config import Settings
from publisher.services.actors import Actor
from publisher.services.agencies import register_agency
from publisher.services.agencies_report import agency_report
from publisher.services.intake import receive_intake
from publisher.services.intake_notifications import queue_state_changes
from publisher.services.signer import CenterSigner
from publisher.sim.agency_sender import AgencyIdentity, agency_identity, agency_warning
from publisher.store.db import session_scope
from publisher.store.models import (
    Agency,
    AgencyNotification,
    AlertState,
    IntakeRecord,
    Message,
    Role,
)

ADMIN = Actor(None, "system:tests", frozenset({Role.ADMIN}))
SENDER = "bjmb@weather.bj.gov.cn"


def _fields(identity: AgencyIdentity, *, direct: bool) -> dict[str, Any]:
    return {"code": "weather", "name": "Beijing Meteorological Service", "sender": SENDER,
            "certificates": [identity.certificate_pem.decode("ascii")], "direct_publish": direct,
            "permissions": {"event_codes": ["hazard=rainstorm"], "districts": ["110105"],
                            "statuses": ["Exercise"]}}


def _submit(session: Session, signer: CenterSigner, settings: Settings, xml: bytes) -> Any:
    agency = session.scalars(select(Agency)).one()
    return receive_intake(session, agency, xml, signer,
                          load_districts(settings.paths.districts_file))


@pytest.mark.parametrize("direct", [False, True])
def test_accepted_once_queued_or_published_and_reported(
        session_factory: sessionmaker[Session], center_signer: CenterSigner,
        center_settings: Settings, tmp_path: Path, direct: bool) -> None:
    identity = agency_identity(tmp_path, "weather", "weather")
    with session_scope(session_factory) as session:
        register_agency(session, ADMIN, _fields(identity, direct=direct))
    xml = identity.sign(agency_warning(SENDER, datetime.now(UTC), event_code=(
        "hazard", "rainstorm"), status=Status.EXERCISE))
    with session_scope(session_factory) as session:
        first = _submit(session, center_signer, center_settings, xml)
        assert first.refusal is None
        assert first.record.alert.state is (AlertState.PUBLISHED if direct
                                            else AlertState.SUBMITTED)
    with session_scope(session_factory) as session:
        again = _submit(session, center_signer, center_settings, xml)
        assert (again.refusal.error.kind, again.refusal.rule) == ("conflict", "duplicate")
        assert session.scalar(select(func.count()).select_from(IntakeRecord)) == 1
        assert session.scalar(select(func.count()).select_from(Message)) == (1 if direct else 0)
        assert queue_state_changes(session, datetime.now(UTC)) == 0
        events = session.scalars(select(AgencyNotification.event)).all()
        assert events == (["published"] if direct else ["received"])
        report = agency_report(session, ADMIN, "weather", datetime.now(UTC).strftime("%Y-%m"))
    assert (report["submitted"], report["accepted"], report["rejected"]) == (2, 1, 1)
    assert report["rejections"][0]["reason"].startswith("duplicate: ")
    assert (report["published"] == 1) is direct
