"""The SMS channel end to end: fan-out, SMPP submission to the simulator, receipts back."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import Status
from publisher.channels.base import ReceiptError, TransientChannelError
from publisher.channels.sms import SmsChannel
from publisher.channels.sms_encoding import DATA_CODING_UCS2, decode_short_message
from publisher.channels.sms_receipts import normalise_message_id
from publisher.services.delivery import load_outgoing_message
from publisher.sim.smsc import SimulatorThread
from publisher.store.models import DeliveryStatus, Receipt, ReceiptOutcome, Target
from tests.integration.fanout_support import (
    CHAOYANG,
    HAIDIAN,
    deliver_in_process,
    geocoded,
    publish,
    session_factory,
    statuses,
)
from tests.integration.sms_support import (
    SOURCE_ADDR,
    StartSmsc,
    add_subscribers,
    await_final,
    single_route,
    sms_channel,
    smsc_factory,
)

__all__ = ["session_factory", "smsc_factory"]

SUBSCRIBERS = {"+8613800000101": (CHAOYANG, "zh-CN"), "+8613800000102": (CHAOYANG, "en-US"),
               "+8613800000201": (HAIDIAN, "zh-CN"), "+8613800000202": (HAIDIAN, "en-US")}


@pytest.fixture
def failure_share() -> float:
    return 0.0


@pytest.fixture
def smsc(smsc_factory: StartSmsc, failure_share: float) -> SimulatorThread:
    return smsc_factory(failure_share=failure_share)


@pytest.fixture
def channel(smsc: SimulatorThread) -> Iterator[SmsChannel]:
    created = sms_channel(single_route(smsc.port))
    yield created
    created.close()


def _published(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        add_subscribers(session, SUBSCRIBERS)
        return publish(session, status=Status.ACTUAL,
                       areas=geocoded(CHAOYANG) + geocoded(HAIDIAN)).id


def test_an_actual_alert_reaches_every_subscriber_once_in_their_language(
        session_factory: sessionmaker[Session], smsc: SimulatorThread,
        channel: SmsChannel) -> None:
    message_id = _published(session_factory)
    with session_factory() as session:
        outgoing = load_outgoing_message(session, message_id)

    deliver_in_process(session_factory, message_id, channel)
    deliveries = await_final(session_factory, channel, message_id)

    with session_factory() as session:
        addresses = {target.id: target.address for target in session.scalars(select(Target))}
        outcomes = [receipt.outcome for receipt in session.scalars(select(Receipt))]
    messages = smsc.part_log().reassembled_messages()
    by_address = {message.destination_addr: message for message in messages}
    assert sorted(addresses[delivery.target_id] for delivery in deliveries) == sorted(SUBSCRIBERS)
    assert len(messages) == len(by_address) == len(SUBSCRIBERS)
    for delivery in deliveries:
        address = addresses[delivery.target_id]
        _district, language = SUBSCRIBERS[address]
        received = by_address[address.removeprefix("+")]
        assert delivery.status is DeliveryStatus.DELIVERED, (address, delivery.last_error)
        assert received.complete and not received.duplicates, address
        # A numeric sender id, and a delivery report asked for on every part.
        assert {(part.source_addr, part.source_addr_ton, part.source_addr_npi,
                 part.registered_delivery) for part in received.parts} == {
            (SOURCE_ADDR, 0, 1, 1)}
        first = next(part for part in received.parts if (part.sequence or 1) == 1)
        # The header-less octets of every part, joined: decoded as one text.
        text = decode_short_message(first.data_coding, 0, received.octets)
        assert text == channel.render(outgoing, language), address
        assert text.isascii() is (language == "en-US"), text
        assert delivery.provider_id == f"primary:{normalise_message_id(first.message_id, 16)}"
        if language == "zh-CN":
            assert received.total > 1 and first.data_coding == DATA_CODING_UCS2
            assert all(part.reference == received.reference for part in received.parts)
    # Every part's receipt moved its part.
    assert outcomes == [ReceiptOutcome.APPLIED] * sum(message.total for message in messages)


@pytest.mark.parametrize("failure_share", [1.0])
def test_undeliverable_receipts_fail_the_deliveries_with_the_reason(
        session_factory: sessionmaker[Session], channel: SmsChannel) -> None:
    message_id = _published(session_factory)

    deliver_in_process(session_factory, message_id, channel)
    deliveries = await_final(session_factory, channel, message_id)

    assert [delivery.status for delivery in deliveries] == [DeliveryStatus.FAILED] * 4
    # The first part whose failure was recorded names it (every text here has two parts).
    for delivery in deliveries:
        assert re.fullmatch(r"part [12] of 2: stat:UNDELIV err:001", delivery.last_error or "")


def test_a_batch_waits_in_the_queue_while_no_bind_comes_up(
        session_factory: sessionmaker[Session]) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    channel = sms_channel(single_route(port, bind_timeout=0.3))
    message_id = _published(session_factory)
    try:
        with pytest.raises(TransientChannelError, match="no SMPP bind is up"):
            deliver_in_process(session_factory, message_id, channel)
    finally:
        channel.close()

    with session_factory() as session:
        assert statuses(session, message_id) == {DeliveryStatus.QUEUED: 4}


def test_a_receipt_that_is_not_one_is_refused_with_its_field() -> None:
    channel = sms_channel(single_route(port=1))

    with pytest.raises(ReceiptError) as refused:
        channel.parse_receipt({"esm_class": 0x04, "short_message": "zz"})

    assert refused.value.field == "short_message"
