"""MQTT terminals end to end: registered like devices, reached by fan-out through the real
Mosquitto, and their acks recorded by the listener as the delivery rows' receipts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.certificates import load_pem_certificates
from publisher.cap.districts import load_districts
from publisher.channels.base import DeliveryStatus
from publisher.channels.mqtt import MqttChannel
from publisher.channels.mqtt_client import BrokerOptions, MqttConnection, Publication
from publisher.channels.mqtt_protocol import TerminalAck, ack_topic, provider_id, token_key
from publisher.services.device_import import import_device_list
from publisher.services.devices import device_spec
from publisher.services.district_names import DistrictNames
from publisher.services.errors import InvalidInput
from publisher.services.terminal_ack_listener import TerminalAckListener
from publisher.sim.device_fleet import write_device_list
from publisher.sim.terminal import TerminalSimConfig, TerminalSimulator, place_terminals
from publisher.store.models import Delivery, Device, DeviceKind, Receipt, Target
from tests.channels.device_support import CONFIG_DISTRICTS, districts
from tests.channels.mqtt_support import broker, eventually, retained_cleared
from tests.integration.fanout_support import (
    _postgres_factory,
    deliver_in_process,
    publish,
    signing_identity,
)
from tests.integration.terminal_support import channel, listener
from tests.services import postgres_url

__all__ = ["broker", "channel", "listener", "postgres_url"]

Factory = sessionmaker[Session]
NAMES = DistrictNames(load_districts(CONFIG_DISTRICTS))
# Chaoyang: where the rainstorm warning is; Haidian is not named by it.
TERMINALS = place_terminals(4, districts("110105", "110108"), ["school", "water"], seed=2,
                            is_test=True)
CHAOYANG = [each for each in TERMINALS if each.district_code == "110105"]


@pytest.fixture
def factory(postgres_url: str) -> Factory:
    return _postgres_factory(postgres_url)


def rows(factory: Factory, message_id: int) -> dict[str, Delivery]:
    with factory() as session:
        found = session.execute(
            select(Delivery, Device.device_id).join(Target, Target.id == Delivery.target_id)
            .join(Device, Device.target_id == Target.id)
            .where(Delivery.message_id == message_id)).all()
        return {device_id: delivery for delivery, device_id in found}


def test_registered_terminals_get_the_alert_and_their_acks_deliver_it(
        factory: Factory, channel: MqttChannel, listener: TerminalAckListener,
        broker: BrokerOptions, identity: tuple[Path, Path], tmp_path: Path) -> None:
    devices_out = tmp_path / "terminal-devices.json"
    write_device_list(devices_out, TERMINALS, "")
    with factory() as session:
        report = import_device_list(session, json.loads(devices_out.read_text()), NAMES)
        session.commit()
        assert (report.created, report.errors) == (4, [])
        message = publish(session, sent=datetime.now(UTC) - timedelta(seconds=5))
    groups = [(each.district_code, each.sector, True) for each in TERMINALS]
    center = TerminalSimConfig(broker, load_pem_certificates(signing_identity()[1]),
                               tmp_path / "received.jsonl", connections=2,
                               client_prefix=f"sim-{uuid.uuid4().hex[:12]}")
    with retained_cleared(broker, groups, [message.identifier]), \
            TerminalSimulator(center, TERMINALS).running() as simulator:
        assert simulator.wait_connected(30)
        deliver_in_process(factory, message.id, channel,
                           districts=load_districts(CONFIG_DISTRICTS))
        sent = rows(factory, message.id)
        assert set(sent) == {each.device_id for each in CHAOYANG}
        assert {device_id: row.provider_id for device_id, row in sent.items()} == {
            device_id: provider_id(device_id, message.identifier) for device_id in sent}

        delivered = eventually(lambda: (lambda found: found if {
            row.status for row in found.values()} == {DeliveryStatus.DELIVERED} else None)(
            rows(factory, message.id)), "every Chaoyang terminal's delivery delivered")
    assert len(delivered) == len(CHAOYANG)
    with factory() as session:
        seen = session.scalars(select(Device.last_seen_at).where(
            Device.device_id.in_([each.device_id for each in CHAOYANG]))).all()
    assert all(moment is not None for moment in seen)


def test_an_ack_with_a_wrong_hmac_or_of_no_terminal_moves_nothing(
        factory: Factory, channel: MqttChannel, listener: TerminalAckListener,
        broker: BrokerOptions) -> None:
    terminal = CHAOYANG[0]
    with factory() as session:
        import_device_list(session, [terminal.entry()], NAMES)
        session.commit()
        message = publish(session, sent=datetime.now(UTC) - timedelta(seconds=5))
    with retained_cleared(broker, [(terminal.district_code, terminal.sector, True)],
                          [message.identifier]):
        deliver_in_process(factory, message.id, channel,
                           districts=load_districts(CONFIG_DISTRICTS))
    ack = TerminalAck(terminal.device_id, message.identifier, "received",
                      datetime.now(UTC).isoformat())
    stranger = TerminalAck("nobody-here", message.identifier, "received", ack.at)
    connection = MqttConnection(broker, f"forger-{uuid.uuid4().hex[:12]}")
    try:
        connection.publish([
            Publication(ack_topic(terminal.device_id),
                        json.dumps(ack.body(token_key("not-its-token"))).encode()),
            Publication(ack_topic(stranger.terminal_id),
                        json.dumps(stranger.body(token_key(terminal.token))).encode()),
            Publication(ack_topic(terminal.device_id),
                        json.dumps(ack.body(token_key(terminal.token))).encode())])
    finally:
        connection.close()
    [row] = eventually(lambda: [row for row in rows(factory, message.id).values()
                                if row.status is DeliveryStatus.DELIVERED], "the true ack")
    with factory() as session:
        receipts = session.scalars(select(Receipt.provider_id).where(
            Receipt.channel == "mqtt")).all()
    # Only the ack signed with the terminal's token was stored.
    assert receipts == [row.provider_id]


@pytest.mark.parametrize(("fields", "field", "reason"), [
    ({"sector": None}, "sector", "required"),
    ({"sector": "bakery"}, "sector", "'bakery' is not a sector"),
    ({"endpoint": "http://127.0.0.1:9/t"}, "endpoint", "a terminal has no endpoint"),
    ({"kind": "led", "endpoint": "http://127.0.0.1:9/b"}, "sector",
     "only a terminal protects a sector"),
    ({"district_code": "999999"}, "district_code", "unknown district"),
])
def test_registry_errors_name_the_field(fields: dict[str, Any], field: str,
                                        reason: str) -> None:
    entry = {**CHAOYANG[0].entry(), **fields}
    entry.pop("token")
    with pytest.raises(InvalidInput) as refused:
        device_spec({name: value for name, value in entry.items() if value is not None}, NAMES)
    assert (refused.value.field, reason in refused.value.reason) == (field, True)


def test_a_terminal_is_a_target_of_the_mqtt_channel_at_its_district_and_sector() -> None:
    spec = device_spec({name: value for name, value in CHAOYANG[0].entry().items()
                        if name != "token"}, NAMES)
    assert (spec.kind, spec.kind.channel, spec.sector) == (DeviceKind.TERMINAL, "mqtt",
                                                           CHAOYANG[0].sector)
    assert spec.endpoint == f"110105/{CHAOYANG[0].sector}/{CHAOYANG[0].device_id}"
