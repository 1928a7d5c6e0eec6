"""Every part's receipt correlated in the database: across binds, part by part, after a restart."""

from __future__ import annotations

import itertools
import random

from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import Status
from publisher.channels.smpp_bind import BindState, InboundMessage
from publisher.channels.sms import SmsChannel
from publisher.channels.sms_encoding import DATA_CODING_UCS2
from publisher.services.sms_inbound import receipt_fields
from publisher.sim.smsc import SimulatorThread
from publisher.sim.smsc_state import LoggedPart
from publisher.store.db import make_engine, make_session_factory
from publisher.store.models import Delivery, DeliveryStatus, ReceiptOutcome
from tests.integration.fanout_support import CHAOYANG, deliver_in_process, geocoded, publish
from tests.integration.receipt_support import delivery_row, received
from tests.integration.sms_support import (
    LONG_INSTRUCTION,
    StartSmsc,
    add_subscribers,
    deliveries,
    eventually,
    parts_of,
    single_route,
    sms_channel,
    smsc_factory,
)

__all__ = ["smsc_factory"]

Factory = sessionmaker[Session]
S = DeliveryStatus
NUMBER = "+8613800000301"
PARTS = 3
MESSAGE_STATE_UNDELIVERABLE = 5


def _sent_long_message(factory: Factory, channel: SmsChannel) -> Delivery:
    """One Chinese alert of three parts handed to the channel; its delivery."""
    with factory() as session:
        add_subscribers(session, {NUMBER: (CHAOYANG, "zh-CN")})
        message_id = publish(session, status=Status.ACTUAL, areas=geocoded(CHAOYANG),
                             instruction=LONG_INSTRUCTION).id
    deliver_in_process(factory, message_id, channel)
    [delivery] = deliveries(factory, message_id)
    return delivery


def _logged_in_order(smsc: SimulatorThread) -> list[LoggedPart]:
    [message] = smsc.part_log().reassembled_messages()
    assert message.complete and not message.duplicates
    assert message.total == PARTS and message.parts[0].data_coding == DATA_CODING_UCS2
    return sorted(message.parts, key=lambda part: part.sequence or 1)


def _receipts(channel: SmsChannel, count: int) -> list[InboundMessage]:
    taken: list[InboundMessage] = []

    def all_taken() -> bool:
        while not channel.receipts.empty():
            message = channel.receipts.get_nowait()
            # Answered as taken: these tests record them one by one, later.
            channel.acknowledge([message.acknowledgement])
            taken.append(message)
        return len(taken) >= count

    eventually(all_taken, f"{count} receipts")
    assert len(taken) == count
    return taken


def _record(factory: Factory, channel: SmsChannel, message: InboundMessage) -> ReceiptOutcome:
    return received(factory, channel, receipt_fields(message))


def _status(factory: Factory, delivery_id: int) -> tuple[DeliveryStatus, str | None]:
    delivery = delivery_row(factory, delivery_id)
    return delivery.status, delivery.last_error


def _every_bind_bound(channel: SmsChannel) -> bool:
    return all(bind.state is BindState.BOUND for bind in channel.start())


def test_every_part_is_correlated_across_binds_and_the_last_receipt_delivers(
        session_factory: Factory, smsc_factory: StartSmsc) -> None:
    smsc = smsc_factory()
    channel = sms_channel(single_route(smsc.port, binds=2))
    try:
        # Both binds up, so that the simulator spreads the receipts over them.
        eventually(lambda: _every_bind_bound(channel), "both binds bound")
        delivery = _sent_long_message(session_factory, channel)
        receipts = _receipts(channel, PARTS)
    finally:
        channel.close()

    logged = _logged_in_order(smsc)
    parts = parts_of(session_factory, delivery.id)
    assert [part.provider_id for part in parts] == [
        f"primary:{int(part.message_id, 16)}" for part in logged]
    assert (delivery.status, delivery.provider_id, delivery.duplicates) == (
        S.SENT, parts[0].provider_id, 0)
    # The parts went out on one bind; the receipts came back on both.
    assert {receipt.bind for receipt in receipts} == {"primary-0", "primary-1"}
    for recorded, receipt in enumerate(receipts, start=1):
        assert _record(session_factory, channel, receipt) is ReceiptOutcome.APPLIED
        assert _status(session_factory, delivery.id)[0] is (
            S.DELIVERED if recorded == PARTS else S.SENT)
    assert [(part.status, part.detail) for part in parts_of(session_factory, delivery.id)] == [
        (S.DELIVERED, "stat:DELIVRD err:000")] * PARTS


def _seed_failing_only_the_second_of_three(failure_share: float) -> int:
    # The simulator draws once per accepted part, in order: find the draws
    # that say delivered, undeliverable, delivered.
    wanted = [True, False, True]
    return next(seed for seed in itertools.count()
                if [draw >= failure_share for draw in _draws(seed, PARTS)] == wanted)


def _draws(seed: int, count: int) -> list[float]:
    drawn = random.Random(seed)
    return [drawn.random() for _ in range(count)]


def test_one_undeliverable_part_fails_the_delivery_with_its_reason(
        session_factory: Factory, smsc_factory: StartSmsc) -> None:
    smsc = smsc_factory(failure_share=0.5, seed=_seed_failing_only_the_second_of_three(0.5))
    channel = sms_channel(single_route(smsc.port))
    try:
        delivery = _sent_long_message(session_factory, channel)
        receipts = _receipts(channel, PARTS)
    finally:
        channel.close()

    failed = [receipt for receipt in receipts
              if receipt.message_state == MESSAGE_STATE_UNDELIVERABLE]
    assert len(failed) == 1
    # The delivered parts first: the message is not whole yet, so not delivered.
    for receipt in receipts:
        if receipt is not failed[0]:
            assert _record(session_factory, channel, receipt) is ReceiptOutcome.APPLIED
    assert _status(session_factory, delivery.id) == (S.SENT, None)
    assert _record(session_factory, channel, failed[0]) is ReceiptOutcome.APPLIED

    assert _status(session_factory, delivery.id) == (S.FAILED,
                                                     "part 2 of 3: stat:UNDELIV err:001")
    assert [part.status for part in parts_of(session_factory, delivery.id)] == [
        S.DELIVERED, S.FAILED, S.DELIVERED]


def test_a_receipt_after_a_restart_lands_on_its_part_and_delivery(
        session_factory: Factory, smsc_factory: StartSmsc) -> None:
    smsc = smsc_factory(dlr_delay=2.0)
    before = sms_channel(single_route(smsc.port))
    delivery = _sent_long_message(session_factory, before)
    before.close()
    assert before.receipts.empty(), "a receipt came before the restart"

    # A new worker: another channel instance, its own binds and its own engine.
    after = sms_channel(single_route(smsc.port))
    engine = make_engine(session_factory.kw["bind"].url)
    try:
        after.start()
        receipts = _receipts(after, PARTS)
        restarted = make_session_factory(engine)
        outcomes = [_record(restarted, after, receipt) for receipt in receipts]
    finally:
        after.close()
        engine.dispose()

    assert outcomes == [ReceiptOutcome.APPLIED] * PARTS
    assert _status(session_factory, delivery.id) == (S.DELIVERED, None)
    assert {part.status for part in parts_of(session_factory, delivery.id)} == {S.DELIVERED}
