"""The terminals' fast path on Mosquitto and PostgreSQL: published before any delivery row,
then recorded by the lane without a second publication; a process that dies between the
publish and the bookkeeping loses and doubles nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.certificates import load_pem_certificates
from publisher.cap.districts import load_districts
from publisher.channels.base import DeliveryStatus
from publisher.channels.mqtt import MqttChannel
from publisher.channels.mqtt_client import BrokerOptions
from publisher.channels.mqtt_protocol import CAP_FORMAT, alert_topic, provider_id, topic_key
from publisher.local_ports import free_port
from publisher.services.delivery import load_outgoing_message
from publisher.services.device_import import import_device_list
from publisher.services.district_names import DistrictNames
from publisher.services.eew_index import TargetIndex
from publisher.services.eew_lane import LaneDispatcher, published_groups
from publisher.services.eew_terminals import TerminalFastPath, TerminalPlan
from publisher.services.terminal_ack_listener import TerminalAckListener
from publisher.sim.device_fleet import write_device_list
from publisher.sim.terminal import TerminalSimConfig, TerminalSimulator, place_terminals
from publisher.store.models import Delivery, Device, Message, Receipt, ReceiptOutcome, Target
from tests.channels.device_support import CONFIG_DISTRICTS, districts
from tests.channels.mqtt_support import TopicRecorder, broker, eventually, retained_cleared
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
DISTRICTS = load_districts(CONFIG_DISTRICTS)
# The warning names Chaoyang (110105); Haidian's terminals must not hear it.
TERMINALS = place_terminals(6, districts("110105", "110108"), ["school", "water", "rail"],
                            seed=5, is_test=True)
CHAOYANG = [each for each in TERMINALS if each.district_code == "110105"]
GROUPS = sorted({(each.district_code, each.sector, True) for each in TERMINALS})


@pytest.fixture
def factory(postgres_url: str) -> Factory:
    return _postgres_factory(postgres_url)


@pytest.fixture
def message(factory: Factory, tmp_path: Path) -> Message:
    devices_out = tmp_path / "terminal-devices.json"
    write_device_list(devices_out, TERMINALS, "")
    with factory() as session:
        report = import_device_list(session, json.loads(devices_out.read_text()),
                                    DistrictNames(DISTRICTS))
        session.commit()
        assert report.errors == []
        return publish(session, sent=datetime.now(UTC) - timedelta(seconds=5))


@pytest.fixture
def simulator(broker: BrokerOptions, tmp_path: Path) -> Iterator[TerminalSimulator]:
    config = TerminalSimConfig(broker, load_pem_certificates(signing_identity()[1]),
                               tmp_path / "received.jsonl", connections=2,
                               client_prefix=f"sim-{uuid.uuid4().hex[:12]}")
    with TerminalSimulator(config, TERMINALS).running() as running:
        assert running.wait_connected(30)
        yield running


@pytest.fixture
def fast(factory: Factory, channel: MqttChannel) -> Iterator[TerminalFastPath]:
    running = TerminalFastPath(factory, channel, DISTRICTS)
    running.warm_up()
    assert all(connection.wait_connected(30) for connection in running.connections)
    yield running
    running.close()


def planned(factory: Factory, fast: TerminalFastPath, message_id: int) -> TerminalPlan:
    with factory() as session:
        return fast.plan(load_outgoing_message(session, message_id))


def deliveries(factory: Factory, message_id: int) -> dict[str, Delivery]:
    """The message's deliveries by terminal; fails on a terminal with two rows."""
    with factory() as session:
        found = session.execute(
            select(Delivery, Device.device_id).join(Target, Target.id == Delivery.target_id)
            .join(Device, Device.target_id == Target.id)
            .where(Delivery.message_id == message_id)).all()
    by_terminal = {device_id: delivery for delivery, device_id in found}
    assert len(by_terminal) == len(found), "a terminal has more than one delivery row"
    return by_terminal


def all_delivered(factory: Factory, message_id: int) -> dict[str, Delivery] | None:
    found = deliveries(factory, message_id)
    done = found and {row.status for row in found.values()} == {DeliveryStatus.DELIVERED}
    return found if done else None


def arrived(simulator: TerminalSimulator, message: Message) -> list[str]:
    """The terminals that took ``message`` (the broker is shared with other tests' messages)."""
    return sorted(arrival.terminal_id for arrival in simulator.arrivals
                  if arrival.identifier == message.identifier)


def cap_publications(recorder: TopicRecorder, identifier: str) -> list[str]:
    """The topics the signed form of ``identifier`` was published on, once per publication."""
    wanted = {alert_topic(district, sector, CAP_FORMAT, identifier, test=test)
              for district, sector, test in GROUPS}
    return sorted(received.topic for received in recorder.received
                  if received.topic in wanted and received.payload)


def test_terminals_get_it_before_any_row_and_the_lane_records_them_without_publishing_again(
        factory: Factory, channel: MqttChannel, listener: TerminalAckListener,
        simulator: TerminalSimulator, message: Message, broker: BrokerOptions,
        fast: TerminalFastPath) -> None:
    plan = planned(factory, fast, message.id)
    chaoyang_groups = sorted({("110105", each.sector, True) for each in CHAOYANG})
    assert sorted(plan.groups) == chaoyang_groups
    recorder = TopicRecorder(broker, f"alerts-test/+/+/+/{topic_key(message.identifier)}")
    with retained_cleared(broker, GROUPS, [message.identifier]), recorder.listening():
        published = fast.publish(plan)
        assert sorted(published) == chaoyang_groups
        eventually(lambda: len(arrived(simulator, message)) >= len(CHAOYANG),
                   "every Chaoyang terminal")
        # The terminals acted, and acked, before the platform wrote a single row.
        assert deliveries(factory, message.id) == {}
        ours = [provider_id(each.device_id, message.identifier) for each in CHAOYANG]
        with factory() as session:
            eventually(lambda: session.scalar(select(func.count()).select_from(Receipt).where(
                Receipt.outcome == ReceiptOutcome.UNKNOWN,
                Receipt.provider_id.in_(ours))) >= len(CHAOYANG),
                "the early acks stored as unknown")

        index = TargetIndex(factory, ["mqtt"])
        index.refresh()
        lane = LaneDispatcher(factory, index, lambda _name: channel, DISTRICTS,
                              enqueue_batch=pytest.fail, enqueue_lane_batch=pytest.fail,
                              batch_size=100)
        assert lane.dispatch(message.id, frozenset(published)) == {"mqtt": len(CHAOYANG)}
        lane.close()

        delivered = eventually(lambda: all_delivered(factory, message.id),
                               "every Chaoyang terminal's delivery delivered by its early ack")
        assert set(delivered) == {each.device_id for each in CHAOYANG}
        assert {device_id: row.provider_id for device_id, row in delivered.items()} == {
            device_id: provider_id(device_id, message.identifier) for device_id in delivered}
        # Each group once: the lane published nothing of its own.
        expected = sorted(alert_topic(*group[:2], CAP_FORMAT, message.identifier, test=True)
                          for group in chaoyang_groups)
        eventually(lambda: len(cap_publications(recorder, message.identifier)) >= len(expected),
                   "the fast path's publications at the recorder")
        assert cap_publications(recorder, message.identifier) == expected
    assert arrived(simulator, message) == sorted(
        each.device_id for each in CHAOYANG)


def test_dying_between_the_publish_and_the_bookkeeping_loses_and_doubles_nothing(
        factory: Factory, channel: MqttChannel, listener: TerminalAckListener,
        simulator: TerminalSimulator, message: Message, broker: BrokerOptions,
        fast: TerminalFastPath) -> None:
    plan = planned(factory, fast, message.id)
    with retained_cleared(broker, GROUPS, [message.identifier]):
        assert fast.publish(plan)
        eventually(lambda: len(arrived(simulator, message)) >= len(CHAOYANG),
                   "every Chaoyang terminal")
        # No lane: the outbox relay's ordinary fan-out, run twice (a redelivered task),
        # plans the rows and publishes again.
        deliver_in_process(factory, message.id, channel, districts=DISTRICTS)
        deliver_in_process(factory, message.id, channel, districts=DISTRICTS)
        delivered = eventually(lambda: all_delivered(factory, message.id),
                               "every Chaoyang terminal's delivery delivered")
    assert set(delivered) == {each.device_id for each in CHAOYANG}
    # Published twice, acted on once: one arrival and one delivery per terminal.
    assert arrived(simulator, message) == sorted(
        each.device_id for each in CHAOYANG)


def test_a_terminal_registered_after_the_fast_path_planned_is_published_to_by_the_lane(
        factory: Factory, channel: MqttChannel, message: Message, broker: BrokerOptions,
        fast: TerminalFastPath) -> None:
    plan = planned(factory, fast, message.id)
    [newcomer] = place_terminals(1, districts("110105"), ["hospital"], seed=9, is_test=True)
    with factory() as session:
        assert import_device_list(session, [newcomer.entry()],
                                  DistrictNames(DISTRICTS)).errors == []
        session.commit()
    hospital = ("110105", "hospital", True)
    assert hospital not in plan.groups
    recorder = TopicRecorder(broker, alert_topic(*hospital[:2], CAP_FORMAT, message.identifier,
                                                 test=True))
    with retained_cleared(broker, [*GROUPS, hospital], [message.identifier]), \
            recorder.listening():
        published = fast.publish(plan)
        index = TargetIndex(factory, ["mqtt"])
        index.refresh()
        lane = LaneDispatcher(factory, index, lambda _name: channel, DISTRICTS,
                              enqueue_batch=pytest.fail, enqueue_lane_batch=pytest.fail,
                              batch_size=100)
        lane.dispatch(message.id, frozenset(published))
        lane.close()
        eventually(lambda: recorder.received, "the lane's publication to the newcomer's group")
    row = deliveries(factory, message.id)[newcomer.device_id]
    assert (row.status, row.provider_id) == (
        DeliveryStatus.SENT, provider_id(newcomer.device_id, message.identifier))


def test_a_broker_that_is_not_connected_leaves_the_terminals_to_the_lane(
        factory: Factory, message: Message) -> None:
    unreachable = MqttChannel({"host": "127.0.0.1", "port": free_port(),
                               "connect_timeout": 1})
    fast = TerminalFastPath(factory, unreachable, DISTRICTS)
    try:
        fast.refresh()
        plan = planned(factory, fast, message.id)
        assert plan.groups
        assert fast.publish(plan) == []
    finally:
        fast.close()
        unreachable.close()


@pytest.mark.parametrize(("body", "groups"), [
    ({"message_id": 1, "published": {"mqtt": [["110105", "school", True]]}},
     {("110105", "school", True)}),
    ({"message_id": 1}, set()),
    ({"message_id": 1, "published": {"mqtt": [["110105", "school"]]}}, set()),
    ({"message_id": 1, "published": {"mqtt": [["110105", "school", True], [1, 2, 3]]}},
     set()),
    ({"message_id": 1, "published": "mqtt"}, set()),
])
def test_the_lane_publishes_to_every_terminal_unless_the_groups_are_named_well(
        body: dict[str, object], groups: set[tuple[str, str, bool]]) -> None:
    assert published_groups(body) == groups
