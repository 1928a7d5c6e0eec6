"""An agency's alert is fanned out only on the channels its permission matrix names."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import load_districts
from publisher.cap.model import Status
from publisher.config import Settings
from publisher.services.actors import Actor
from publisher.services.agencies import register_agency
from publisher.services.agency_channels import CHANNELS_LIMITED, channel_limits
from publisher.services.delivery import fan_out
from publisher.services.intake import receive_intake
from publisher.services.signer import CenterSigner
from publisher.sim.agency_sender import agency_identity, agency_warning
from publisher.store.db import session_scope
from publisher.store.models import Agency, AuditEntry, Delivery, Role
from tests.integration.fanout_support import add_targets, publish

ADMIN = Actor(None, "system:tests", frozenset({Role.ADMIN}))
SENDER = "bjmb@weather.bj.gov.cn"
RUNNING = ("sms", "feed", "led", "speaker", "district", "app")


def _targets_on_every_channel(session: Session) -> None:
    for channel in RUNNING:
        add_targets(session, 3, channel=channel, is_test=True, prefix=channel)


def _planned_channels(factory: sessionmaker[Session], message_id: int) -> dict[str, int]:
    with factory() as session:
        return {channel: count for channel, count in session.execute(
            select(Delivery.channel, func.count()).where(Delivery.message_id == message_id)
            .group_by(Delivery.channel))}


def _fan_out(factory: sessionmaker[Session], message_id: int) -> None:
    fan_out(factory, message_id, 100, lambda _channel, _ids: None, channels=RUNNING)


def _publish_from_agency(factory: sessionmaker[Session], signer: CenterSigner,
                         settings: Settings, tmp_path: Path, channels: list[str] | None) -> int:
    identity = agency_identity(tmp_path, "weather", "weather")
    permissions = {"event_codes": ["hazard=rainstorm"], "districts": ["110105"],
                   "statuses": ["Exercise"], "channels": channels}
    with session_scope(factory) as session:
        register_agency(session, ADMIN, {
            "code": "weather", "name": "Beijing Meteorological Service", "sender": SENDER,
            "certificates": [identity.certificate_pem.decode("ascii")],
            "direct_publish": True, "permissions": permissions})
    xml = identity.sign(agency_warning(SENDER, datetime.now(UTC),
                                       event_code=("hazard", "rainstorm"),
                                       channels=("sms",) if channels else (),
                                       status=Status.EXERCISE))
    with session_scope(factory) as session:
        agency = session.scalars(select(Agency)).one()
        outcome = receive_intake(session, agency, xml, signer,
                                 load_districts(settings.paths.districts_file))
        assert outcome.refusal is None, outcome.refusal.as_json()
        assert outcome.record is not None and outcome.record.alert is not None
        return outcome.record.alert.messages[0].id


def test_an_agency_permitted_feed_and_sms_gets_no_board_speaker_or_district_deliveries(
        session_factory: sessionmaker[Session], center_signer: CenterSigner,
        center_settings: Settings, tmp_path: Path) -> None:
    with session_factory() as session:
        _targets_on_every_channel(session)
    message_id = _publish_from_agency(session_factory, center_signer, center_settings,
                                      tmp_path, ["feed", "sms"])
    _fan_out(session_factory, message_id)
    _fan_out(session_factory, message_id)  # a redelivered fan-out: nothing new, one audit
    assert _planned_channels(session_factory, message_id) == {"feed": 3, "sms": 3}
    with session_factory() as session:
        audited = session.scalars(select(AuditEntry).where(
            AuditEntry.action == CHANNELS_LIMITED)).all()
        assert len(audited) == 1
        assert audited[0].actor == "system:fanout"
        assert "led, speaker, district, app" in (audited[0].reason or "")
        limits = channel_limits(session, audited[0].alert_id or 0)
    assert [(limit["message_id"], limit["agency"], limit["limited"], limit["permitted"])
            for limit in limits] == [
        (message_id, "weather", ["led", "speaker", "district", "app"], ["feed", "sms"])]


def test_an_agency_whose_matrix_names_no_channels_leaves_the_choice_to_the_fan_out(
        session_factory: sessionmaker[Session], center_signer: CenterSigner,
        center_settings: Settings, tmp_path: Path) -> None:
    with session_factory() as session:
        _targets_on_every_channel(session)
    message_id = _publish_from_agency(session_factory, center_signer, center_settings,
                                      tmp_path, None)
    _fan_out(session_factory, message_id)
    assert _planned_channels(session_factory, message_id) == dict.fromkeys(RUNNING, 3)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == CHANNELS_LIMITED)) == 0


def test_the_centers_own_alert_is_planned_on_every_running_channel(
        session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        _targets_on_every_channel(session)
        message = publish(session)
    _fan_out(session_factory, message.id)
    assert _planned_channels(session_factory, message.id) == dict.fromkeys(RUNNING, 3)
