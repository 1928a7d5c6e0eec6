"""The MQTT channel against the real Mosquitto: topics, retained state, Cancel, a broker that is
down, and the terminal simulator that verifies what it gets."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.cap.model import MsgType
from publisher.cap.signature_verify import load_certificates
from publisher.channels.base import (
    DeliveryStatus,
    OutgoingMessage,
    PermanentChannelError,
    ReceiptError,
    SendResult,
    TargetRef,
    TransientChannelError,
)
from publisher.channels.mqtt import MqttChannel
from publisher.channels.mqtt_client import BrokerOptions, MqttConnection, Publication, Received
from publisher.channels.mqtt_protocol import (
    TerminalAck,
    alert_topic,
    parse_alert_topic,
    provider_id,
    subscription,
    token_key,
    topic_key,
)
from publisher.channels.registry import create_channel
from publisher.sim.terminal import TerminalSimConfig, TerminalSimulator, place_terminals
from tests.channels.device_support import districts
from tests.channels.mqtt_support import (
    BrokerLink,
    TopicRecorder,
    broker,
    eventually,
    retained_cleared,
    signed_message,
)

__all__ = ["broker"]

SCHOOL, HOSPITAL = ("110105", "school", False), ("110108", "hospital", False)
GROUPS = [SCHOOL, HOSPITAL, ("110105", "school", True)]


def target(delivery_id: int, district: str, sector: str, terminal_id: str, *,
           is_test: bool = False) -> TargetRef:
    return TargetRef(delivery_id, delivery_id, f"{district}/{sector}/{terminal_id}", "zh-CN",
                     is_test, terminal_id)


@pytest.fixture
def channel(broker: BrokerOptions) -> Iterator[MqttChannel]:
    mqtt = MqttChannel({"host": broker.host, "port": broker.port, "publish_timeout": 10,
                        "connect_timeout": 10})
    yield mqtt
    mqtt.close()


def test_a_batch_reaches_the_topics_of_its_districts_and_sectors_only(
        broker: BrokerOptions, channel: MqttChannel, identity: tuple[Path, Path]) -> None:
    message = signed_message(identity)
    key = topic_key(message.identifier)
    recorder = TopicRecorder(broker, f"alerts/+/+/+/{key}", f"alerts-test/+/+/+/{key}")
    targets = [target(1, "110105", "school", "t-1"), target(2, "110105", "school", "t-2"),
               target(3, "110108", "hospital", "t-3"),
               target(4, "110105", "school", "t-4", is_test=True)]
    with retained_cleared(broker, GROUPS, [message.identifier]), recorder.listening():
        results = channel.send(message, targets)
        expected = {alert_topic(district, sector, form, message.identifier, test=test)
                    for district, sector, test in GROUPS for form in ("cap", "json")}
        eventually(lambda: recorder.topics() == expected or None,
                   f"the six topics, got {recorder.topics()}")

    assert [(result.delivery_id, result.status, result.provider_id) for result in results] == [
        (each.delivery_id, DeliveryStatus.SENT, provider_id(each.address.split("/")[2],
                                                            message.identifier))
        for each in targets]
    # One publication per topic serves both Chaoyang schools.
    assert len(recorder.received) == 6
    by_topic = {received.topic: received for received in recorder.received}
    cap = by_topic[alert_topic("110105", "school", "cap", message.identifier)]
    assert cap.payload == message.xml
    compact = json.loads(by_topic[alert_topic("110108", "hospital", "json",
                                              message.identifier)].payload)
    assert compact["identifier"] == message.identifier
    assert compact["info"][0]["headline"] == message.alert.infos[0].headline
    assert "description" not in compact["info"][0]


def test_groups_published_already_are_left_out_and_their_terminals_are_sent_all_the_same(
        broker: BrokerOptions, channel: MqttChannel, identity: tuple[Path, Path]) -> None:
    message = signed_message(identity)
    key = topic_key(message.identifier)
    recorder = TopicRecorder(broker, f"alerts/+/+/+/{key}", f"alerts-test/+/+/+/{key}")
    targets = [target(1, "110105", "school", "t-1"), target(2, "110108", "hospital", "t-2")]
    with retained_cleared(broker, GROUPS, [message.identifier]), recorder.listening():
        results = channel.send_leaving_out(message, targets, {SCHOOL})
        expected = {alert_topic(*HOSPITAL[:2], form, message.identifier)
                    for form in ("cap", "json")}
        eventually(lambda: recorder.topics() == expected or None,
                   f"the hospital's two topics, got {recorder.topics()}")

    assert [(result.delivery_id, result.status, result.provider_id) for result in results] == [
        (1, DeliveryStatus.SENT, provider_id("t-1", message.identifier)),
        (2, DeliveryStatus.SENT, provider_id("t-2", message.identifier))]
    assert len(recorder.received) == 2


def test_a_terminal_that_connects_later_gets_the_alert_retained_and_not_after_the_cancel(
        broker: BrokerOptions, channel: MqttChannel, identity: tuple[Path, Path]) -> None:
    alert = signed_message(identity)
    cancel = signed_message(identity, msg_type=MsgType.CANCEL, references=[alert],
                            message_id=2)
    targets = [target(1, "110105", "school", "t-1")]
    alert_filter = f"alerts/110105/school/+/{topic_key(alert.identifier)}"
    with retained_cleared(broker, [SCHOOL], [alert.identifier, cancel.identifier]):
        channel.send(alert, targets)
        late = TopicRecorder(broker, alert_filter)
        with late.listening():
            eventually(lambda: len(late.received) == 2, "both forms, retained")
        assert {received.retained for received in late.received} == {True}
        assert {received.payload for received in late.received} >= {alert.xml}

        watching = TopicRecorder(broker, *(alert_topic("110105", "school", "cap", each.identifier)
                                           for each in (alert, cancel)))
        with watching.listening():
            [result] = channel.cancel(cancel, targets)
            assert (result.status, result.provider_id) == (
                DeliveryStatus.SENT, provider_id("t-1", cancel.identifier))
            seen = eventually(lambda: (lambda live: live if len(live) == 2 else None)(
                {each.topic: each.payload for each in watching.received if not each.retained}),
                "the clear and the Cancel")
        assert seen == {alert_topic("110105", "school", "cap", alert.identifier): b"",
                        alert_topic("110105", "school", "cap", cancel.identifier): cancel.xml}

        later = TopicRecorder(broker, alert_filter,
                              f"alerts/110105/school/+/{topic_key(cancel.identifier)}")
        with later.listening():
            # The SUBACK came; retained messages come before it would matter.
            assert later.received == []


def test_an_alert_expires_on_the_broker_with_its_expiry(
        broker: BrokerOptions, channel: MqttChannel, identity: tuple[Path, Path]) -> None:
    message = signed_message(identity, expires_in=timedelta(seconds=3))
    with retained_cleared(broker, [SCHOOL], [message.identifier]):
        channel.send(message, [target(1, "110105", "school", "t-1")])

        def retained_now() -> list[bytes]:
            recorder = TopicRecorder(broker, f"alerts/110105/school/cap/"
                                             f"{topic_key(message.identifier)}")
            with recorder.listening():
                return [each.payload for each in recorder.received]

        eventually(lambda: retained_now() == [] or None, "the alert gone at its expiry",
                   timeout=30)


def test_an_expired_alert_is_not_published(broker: BrokerOptions, channel: MqttChannel,
                                           identity: tuple[Path, Path]) -> None:
    message = signed_message(identity, expires_in=timedelta(seconds=-1))
    [result] = channel.send(message, [target(1, "110105", "school", "t-1")])
    assert result.status is DeliveryStatus.EXPIRED


def test_a_target_whose_address_is_no_terminal_fails_with_the_reason(
        broker: BrokerOptions, channel: MqttChannel, identity: tuple[Path, Path]) -> None:
    message = signed_message(identity)
    with retained_cleared(broker, [SCHOOL], [message.identifier]):
        results = channel.send(message, [
            TargetRef(1, 1, "110105/bakery/t-1", "zh-CN", False, "t-1"),
            target(2, "110105", "school", "t-2")])
    assert [(result.status, result.error) for result in results] == [
        (DeliveryStatus.FAILED, "address: 'bakery' is not one of school, hospital, newsroom,"
                                " rail, water, power, gas, heat, telecom"),
        (DeliveryStatus.SENT, None)]


def test_a_cancel_that_names_nothing_is_refused(channel: MqttChannel,
                                                identity: tuple[Path, Path]) -> None:
    cancel = signed_message(identity, msg_type=MsgType.CANCEL)
    with pytest.raises(PermanentChannelError, match="references"):
        channel.cancel(cancel, [target(1, "110105", "school", "t-1")])


def test_a_broker_that_is_down_is_a_transient_error_and_the_retry_reaches_the_terminal(
        broker: BrokerOptions, identity: tuple[Path, Path]) -> None:
    link = BrokerLink(broker)
    options = link.options
    channel = MqttChannel({"host": options.host, "port": options.port,
                           "connect_timeout": 2, "publish_timeout": 2})
    first, second = signed_message(identity), signed_message(identity, message_id=2)
    recorder = TopicRecorder(broker, subscription("110105", "school"))
    targets = [target(1, "110105", "school", "t-1")]
    try:
        with retained_cleared(broker, [SCHOOL], [first.identifier, second.identifier]), \
                recorder.listening():
            channel.send(first, targets)
            link.down()
            with pytest.raises(TransientChannelError, match=r"^MQTT broker 127\.0\.0\.1:\d+"):
                channel.send(second, targets)
            link.up()
            [result] = eventually(lambda: _retried(channel, second, targets),
                                  "the retried batch taken")
            assert result.status is DeliveryStatus.SENT
            eventually(lambda: {first.identifier, second.identifier} <= {
                parse_alert_topic(each.topic)[3] for each in recorder.received} or None,
                "both messages on the broker")
    finally:
        channel.close()
        link.down()


def _retried(channel: MqttChannel, message: OutgoingMessage,
             targets: list[TargetRef]) -> list[SendResult] | None:
    """One try of the batch, as the fan-out retries it: None while the broker is not back."""
    try:
        return channel.send(message, targets)
    except TransientChannelError:
        return None


def test_the_simulator_verifies_acks_and_rejects_a_tampered_message(
        broker: BrokerOptions, channel: MqttChannel, identity: tuple[Path, Path],
        tmp_path: Path) -> None:
    terminals = place_terminals(3, districts("110105"), ["school", "water"], seed=1)
    config = TerminalSimConfig(broker, load_certificates([identity[1]]),
                               tmp_path / "received.jsonl", connections=2,
                               client_prefix=f"sim-{uuid.uuid4().hex[:12]}")
    message, forged = signed_message(identity), signed_message(identity, message_id=2)
    acks = TopicRecorder(broker, *(f"acks/{each.device_id}" for each in terminals))
    schools = [each for each in terminals if each.sector == "school"]

    def acks_of(identifier: str) -> list[Received]:
        # Another run on the shared broker may ack with terminals of the same ids.
        return [each for each in acks.received
                if json.loads(each.payload)["identifier"] == identifier]

    with retained_cleared(broker, [SCHOOL, ("110105", "water", False)],
                          [message.identifier, forged.identifier]), \
            acks.listening(), TerminalSimulator(config, terminals).running() as simulator:
        assert simulator.wait_connected(30)
        eventually(lambda: all(connection.connected for connection in simulator.connections),
                   "the terminals connected")
        channel.send(message, [target(index, "110105", each.sector, each.device_id)
                               for index, each in enumerate(terminals)])
        eventually(lambda: len(acks_of(message.identifier)) == 3, "three acks")
        tampered = forged.xml.replace("暴雨红色预警".encode(), "暴雨蓝色预警".encode(), 1)
        assert tampered != forged.xml
        publisher = MqttConnection(broker, f"forger-{uuid.uuid4().hex[:12]}")
        try:
            publisher.publish([Publication(alert_topic("110105", "school", "cap",
                                                       forged.identifier), tampered)])
        finally:
            publisher.close()
        forged_topic = alert_topic("110105", "school", "cap", forged.identifier)
        # What other runs left retained on the shared broker is rejected too (other keys).
        [rejection] = eventually(lambda: [each for each in simulator.rejections
                                          if each.topic == forged_topic], "the rejection")

        assert rejection.reason.startswith("signature: digest_mismatch")
        assert {arrival.identifier for arrival in simulator.arrivals} == {message.identifier}
        assert all(arrival.latency_ms is not None for arrival in simulator.arrivals)
        assert all(simulator.showing(each.device_id) == [message.identifier]
                   for each in terminals)
        assert len(config.log_path.read_text().splitlines()) == 3
    bodies = {received.topic.split("/")[1]: json.loads(received.payload)
              for received in acks_of(message.identifier)}
    assert set(bodies) == {each.device_id for each in terminals}
    school = schools[0]
    expected = TerminalAck(school.device_id, message.identifier, "received",
                           bodies[school.device_id]["at"])
    assert bodies[school.device_id] == expected.body(token_key(school.token))


def test_a_receipt_is_parsed_from_the_stored_ack(channel: MqttChannel) -> None:
    ack = TerminalAck("t-1", "id-1", "received", "2026-11-29T08:00:00+08:00")
    parsed = channel.parse_receipt(ack.receipt())
    assert (parsed.provider_id, parsed.status) == (provider_id("t-1", "id-1"),
                                                   DeliveryStatus.DELIVERED)
    failed = channel.parse_receipt({**ack.receipt(), "state": "failed", "detail": "no power"})
    assert (failed.status, failed.detail) == (DeliveryStatus.FAILED, "failed: no power")
    with pytest.raises(ReceiptError) as refused:
        channel.parse_receipt({**ack.receipt(), "state": "seen"})
    assert refused.value.field == "state"


@pytest.mark.parametrize(("options", "field"), [
    ({"port": "1883"}, "port"), ({"host": ""}, "host"), ({"publish_timeout": 0},
                                                         "publish_timeout")])
def test_options_name_the_one_at_fault(options: dict[str, object], field: str) -> None:
    with pytest.raises(PermanentChannelError, match=rf"channel_options\.mqtt\.{field}:"):
        create_channel("mqtt", options)
