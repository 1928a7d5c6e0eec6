"""The center side of the district nodes on SQLite and PostgreSQL: routing, retries,
the catch-up stream, aggregated receipts and heartbeats, against fake nodes on real sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.certificates import load_pem_certificates
from publisher.cap.districts import load_districts
from publisher.cap.model import Status
from publisher.channels.base import (
    DeliveryStatus,
    OutgoingMessage,
    SendResult,
    TargetRef,
    TransientChannelError,
)
from publisher.channels.district import DistrictChannel, node_provider_id
from publisher.config import load_paths
from publisher.local_ports import free_port
from publisher.services.delivery import fan_out, send_batch
from publisher.services.district_heartbeat import heartbeat_nodes
from publisher.services.district_names import DistrictNames
from publisher.services.district_nodes import (
    OFFLINE_GRACE_SECONDS,
    add_node,
    authenticate_node,
    find_node,
    is_offline,
)
from publisher.services.district_stream import node_deliveries, record_node_receipt, stream_page
from publisher.services.errors import Forbidden, NotFound
from publisher.store.models import Delivery, Message, utcnow
from tests.integration.district_center_support import CENTER_TOKEN, FakeNode
from tests.integration.fanout_support import CHAOYANG, HAIDIAN, geocoded, publish, signing_identity
from tests.services import shared_identity

CHANNEL_OPTIONS = {"center_token": CENTER_TOKEN, "timeout": 5}
DEADLINE = 30.0


@pytest.fixture
def districts() -> DistrictNames:
    return DistrictNames(load_districts(load_paths().districts_file))


@pytest.fixture
def node_pem(tmp_path: Path) -> str:
    _, certificate = shared_identity(tmp_path / "district-key", "Chaoyang district node")
    return certificate.read_text()


@pytest.fixture
def fake_nodes() -> Iterator[dict[str, FakeNode]]:
    certificate = load_pem_certificates(signing_identity()[1])[0]
    nodes = {code: FakeNode(code, certificate).start() for code in (CHAOYANG, HAIDIAN)}
    yield nodes
    for node in nodes.values():
        node.stop()


def _register(factory: sessionmaker[Session], districts: DistrictNames, pem: str,
              urls: dict[str, str]) -> dict[str, str]:
    with factory() as session:
        credentials = {code: add_node(session, {"code": code, "url": url,
                                                "certificate_pem": pem}, districts).credential
                       for code, url in urls.items()}
        session.commit()
    return credentials


def _deliver(factory: sessionmaker[Session], message_id: int, channel: DistrictChannel
             ) -> list[list[int]]:
    batches: list[list[int]] = []
    fan_out(factory, message_id, 100, lambda _name, ids: batches.append(ids),
            channels=(channel.name,))
    return batches


def _chaoyang_alert(factory: sessionmaker[Session], districts: DistrictNames, pem: str,
                    nodes: dict[str, FakeNode]) -> tuple[dict[str, str], Message]:
    """The fake nodes registered (their credentials), and an Actual alert for Chaoyang."""
    credentials = _register(factory, districts, pem,
                            {code: node.url for code, node in nodes.items()})
    with factory() as session:
        return credentials, publish(session, status=Status.ACTUAL, areas=geocoded(CHAOYANG))


def test_an_alert_reaches_the_node_of_its_district_only_and_its_receipt_delivers_it(
        session_factory: sessionmaker[Session], districts: DistrictNames, node_pem: str,
        fake_nodes: dict[str, FakeNode]) -> None:
    credentials, message = _chaoyang_alert(session_factory, districts, node_pem, fake_nodes)
    channel = DistrictChannel(CHANNEL_OPTIONS)
    for batch in _deliver(session_factory, message.id, channel):
        send_batch(session_factory, channel, batch)

    assert fake_nodes[CHAOYANG].pushes == [message.xml]
    assert fake_nodes[HAIDIAN].pushes == []
    with session_factory() as session:
        delivery = session.scalars(select(Delivery).where(Delivery.message_id == message.id)
                                   ).one()
        assert delivery.status is DeliveryStatus.SENT
        assert delivery.provider_id == node_provider_id(CHAOYANG, message.identifier,
                                                        message.sent)
        node = authenticate_node(session, CHAOYANG, credentials[CHAOYANG])
        stored = record_node_receipt(session, node, channel, {
            "sender": message.sender, "identifier": message.identifier,
            "sent": message.sent.isoformat(),
            "counts": {"led": {"delivered": 3, "failed": 1, "pending": 0},
                       "speaker": {"delivered": 2}}})
        session.commit()
        assert stored.delivery_id == delivery.id
        session.refresh(delivery)
        assert delivery.status is DeliveryStatus.DELIVERED
        shown = node_deliveries(session, node, 10)
        assert [(each.identifier, each.status) for each in shown] == [
            (message.identifier, "delivered")]
        assert shown[0].counts == {"led": {"delivered": 3, "failed": 1, "pending": 0},
                                   "speaker": {"delivered": 2, "failed": 0, "pending": 0}}
        haidian = authenticate_node(session, HAIDIAN, credentials[HAIDIAN])
        with pytest.raises(NotFound) as refused:
            record_node_receipt(session, haidian, channel, {
                "sender": message.sender, "identifier": message.identifier,
                "sent": message.sent.isoformat(), "counts": {}})
        assert refused.value.field == "identifier"


class _AnswerHeldBack(DistrictChannel):
    """Pushes, then holds the node's answer back until told: the node's receipt overtakes it."""

    def __init__(self) -> None:
        super().__init__(CHANNEL_OPTIONS)
        self.pushed, self.answer = threading.Event(), threading.Event()

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        results = super().send(message, targets)
        self.pushed.set()
        self.answer.wait(DEADLINE)
        return results


def test_a_receipt_that_overtakes_its_push_answer_still_delivers_it(
        session_factory: sessionmaker[Session], districts: DistrictNames, node_pem: str,
        fake_nodes: dict[str, FakeNode]) -> None:
    credentials, message = _chaoyang_alert(session_factory, districts, node_pem, fake_nodes)
    channel = _AnswerHeldBack()
    [batch] = _deliver(session_factory, message.id, channel)
    with ThreadPoolExecutor(1) as worker:
        handed_over = worker.submit(send_batch, session_factory, channel, batch)
        assert channel.pushed.wait(DEADLINE)
        with session_factory() as session:
            # The receipt is recorded, not committed, when the answer is: the
            # answer's transaction must not miss it.
            record_node_receipt(session, authenticate_node(session, CHAOYANG,
                                                           credentials[CHAOYANG]),
                                channel, {"sender": message.sender,
                                          "identifier": message.identifier,
                                          "sent": message.sent.isoformat(), "counts": {}})
            channel.answer.set()
            time.sleep(0.5)
            session.commit()
        handed_over.result(DEADLINE)
    with session_factory() as session:
        delivery = session.get(Delivery, batch[0])
        assert delivery is not None and delivery.status is DeliveryStatus.DELIVERED


def test_an_unreachable_node_is_left_queued_for_a_retry(
        session_factory: sessionmaker[Session], districts: DistrictNames,
        node_pem: str) -> None:
    _register(session_factory, districts, node_pem,
              {CHAOYANG: f"http://127.0.0.1:{free_port()}"})
    with session_factory() as session:
        message = publish(session, status=Status.ACTUAL, areas=geocoded(CHAOYANG))
    channel = DistrictChannel(CHANNEL_OPTIONS)
    [batch] = _deliver(session_factory, message.id, channel)
    with pytest.raises(TransientChannelError):
        send_batch(session_factory, channel, batch)
    with session_factory() as session:
        delivery = session.get(Delivery, batch[0])
        assert delivery is not None
        assert delivery.status is DeliveryStatus.QUEUED
        assert "not reachable" in (delivery.last_error or "")


def test_the_catch_up_stream_pages_in_cursor_order_and_is_closed_to_other_nodes(
        session_factory: sessionmaker[Session], districts: DistrictNames, node_pem: str) -> None:
    credentials = _register(session_factory, districts, node_pem, {
        CHAOYANG: f"http://127.0.0.1:{free_port()}",
        HAIDIAN: f"http://127.0.0.1:{free_port()}"})
    channel = DistrictChannel(CHANNEL_OPTIONS)
    with session_factory() as session:
        ours = [publish(session, status=Status.ACTUAL, areas=geocoded(CHAOYANG)).id
                for _ in range(3)]
        publish(session, status=Status.ACTUAL, areas=geocoded(HAIDIAN))
    for message_id in ours:
        _deliver(session_factory, message_id, channel)
    with session_factory() as session:
        node = authenticate_node(session, CHAOYANG, credentials[CHAOYANG])
        first = stream_page(session, node, 0, 2)
        assert [cursor for cursor, _ in first.messages] == ours[:2]
        assert first.next_cursor == ours[1]
        second = stream_page(session, node, ours[1], 2)
        assert [cursor for cursor, _ in second.messages] == ours[2:]
        assert second.next_cursor is None
        xml = session.get(Message, ours[2])
        assert xml is not None and second.messages[0][1] == xml.xml
        with pytest.raises(Forbidden):
            authenticate_node(session, CHAOYANG, credentials[HAIDIAN])


def test_the_heartbeat_names_the_latest_messages_and_the_cursor(
        session_factory: sessionmaker[Session], districts: DistrictNames, node_pem: str,
        fake_nodes: dict[str, FakeNode]) -> None:
    _register(session_factory, districts, node_pem,
              {code: node.url for code, node in fake_nodes.items()})
    channel = DistrictChannel(CHANNEL_OPTIONS)
    with session_factory() as session:
        messages = [publish(session, status=Status.ACTUAL, areas=geocoded(CHAOYANG))
                    for _ in range(2)]
    for message in messages:
        _deliver(session_factory, message.id, channel)

    assert heartbeat_nodes(session_factory, channel) == {CHAOYANG: True, HAIDIAN: True}
    [beat] = fake_nodes[CHAOYANG].heartbeats
    assert beat["cursor"] == messages[-1].id
    assert [entry["identifier"] for entry in beat["recent"]] == [
        message.identifier for message in messages]
    assert fake_nodes[HAIDIAN].heartbeats[0]["recent"] == []
    with session_factory() as session:
        node = find_node(session, CHAOYANG)
        assert node is not None and node.last_heard_at is not None


def test_each_node_is_beaten_by_its_own_interval_and_offline_after_it(
        session_factory: sessionmaker[Session], districts: DistrictNames, node_pem: str,
        fake_nodes: dict[str, FakeNode]) -> None:
    with session_factory() as session:
        for code, interval in ((CHAOYANG, 5), (HAIDIAN, 60)):
            add_node(session, {"code": code, "url": fake_nodes[code].url,
                               "certificate_pem": node_pem, "heartbeat_interval": interval},
                     districts)
        session.commit()
    channel = DistrictChannel(CHANNEL_OPTIONS)
    start = utcnow()

    assert heartbeat_nodes(session_factory, channel, now=start) == {CHAOYANG: True,
                                                                    HAIDIAN: True}
    assert heartbeat_nodes(session_factory, channel, now=start + timedelta(seconds=4)) == {}
    assert heartbeat_nodes(session_factory, channel, now=start + timedelta(seconds=5)) == {
        CHAOYANG: True}
    assert heartbeat_nodes(session_factory, channel, now=start + timedelta(seconds=61)) == {
        CHAOYANG: True, HAIDIAN: True}
    assert len(fake_nodes[CHAOYANG].heartbeats) == 3
    assert len(fake_nodes[HAIDIAN].heartbeats) == 2

    with session_factory() as session:
        chaoyang, haidian = find_node(session, CHAOYANG), find_node(session, HAIDIAN)
        assert chaoyang is not None and haidian is not None
        heard = chaoyang.last_heard_at
        assert heard is not None
        within = heard + timedelta(seconds=5 + OFFLINE_GRACE_SECONDS)
        assert not is_offline(chaoyang, within) and not is_offline(haidian, within)
        later = within + timedelta(seconds=1)
        assert is_offline(chaoyang, later) and not is_offline(haidian, later)


def test_a_silent_node_is_reported_and_the_others_still_beaten(
        session_factory: sessionmaker[Session], districts: DistrictNames, node_pem: str,
        fake_nodes: dict[str, FakeNode]) -> None:
    _register(session_factory, districts, node_pem, {
        CHAOYANG: fake_nodes[CHAOYANG].url, HAIDIAN: f"http://127.0.0.1:{free_port()}"})

    answered = heartbeat_nodes(session_factory, DistrictChannel(CHANNEL_OPTIONS))

    assert answered == {CHAOYANG: True, HAIDIAN: False}
    with session_factory() as session:
        haidian = find_node(session, HAIDIAN)
        assert haidian is not None and haidian.last_heard_at is None
        assert haidian.heartbeat_due_at is not None
