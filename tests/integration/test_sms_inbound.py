"""Texts from phones and receipts, from the simulator's deliver_sm to PostgreSQL and back by SMS.

The pump runs as in a worker: the channel's binds to the simulator, the
subscriber services on a real database; what the test checks went over the
wire, in the simulator's part log.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import Status
from publisher.channels.base import OutgoingMessage, SendResult, TargetRef
from publisher.channels.sms import SmsChannel
from publisher.channels.sms_encoding import DATA_CODING_UCS2, decode_short_message
from publisher.channels.sms_text import DEFAULT_SIGNATURE
from publisher.services.sms_inbound import InboundPump, unmatched_since
from publisher.sim.smsc import FaultMode, SimulatorThread
from publisher.sim.smsc_state import ReassembledMessage
from publisher.store.models import Delivery, DeliveryStatus, Receipt, ReceiptOutcome, utcnow
from tests.integration.fanout_support import (
    CHAOYANG,
    HAIDIAN,
    deliver_in_process,
    geocoded,
    publish,
)
from tests.integration.sms_support import (
    DEADLINE,
    SOURCE_ADDR,
    StartSmsc,
    add_subscribers,
    deliveries,
    eventually,
    parts_of,
    single_route,
    sms_channel,
    smsc_factory,
)
from tests.integration.subscriber_support import DISTRICTS, sms_targets

__all__ = ["smsc_factory"]

# PostgreSQL: the database production runs these services on.
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

Factory = sessionmaker[Session]
FIRST, SECOND, LANDLINE = "+8613800000301", "+8613800000302", "01065529988"


@pytest.fixture
def smsc(smsc_factory: StartSmsc) -> SimulatorThread:
    return smsc_factory()


@pytest.fixture
def channel(smsc: SimulatorThread) -> Iterator[SmsChannel]:
    created = sms_channel(single_route(smsc.port, bind_timeout=0.5))
    yield created
    created.close()


@pytest.fixture
def pump(channel: SmsChannel, session_factory: Factory) -> Iterator[InboundPump]:
    running = InboundPump(channel, session_factory, DISTRICTS, reply_retry=0.1)
    running.start()
    yield running
    running.stop()


def _text(smsc: SimulatorThread, number: str, text: str) -> None:
    """A text from ``number``, once the platform's bind has acknowledged it."""
    smsc.inject_mo(number.removeprefix("+"), SOURCE_ADDR, text).result(DEADLINE)


def _queued_text(smsc: SimulatorThread, channel: SmsChannel, number: str, text: str) -> None:
    """A text from ``number``, taken by the platform's bind and not answered yet."""
    smsc.inject_mo(number.removeprefix("+"), SOURCE_ADDR, text)
    eventually(lambda: channel.mobile_originated.qsize() == 1, "the text queued")


def _received(smsc: SimulatorThread, number: str) -> list[ReassembledMessage]:
    log = smsc.part_log()
    try:
        return [message for message in log.reassembled_messages()
                if message.destination_addr == number.removeprefix("+")]
    finally:
        log.close()


def _reply(smsc: SimulatorThread, number: str, count: int) -> ReassembledMessage:
    """The ``count``-th message the SMSC accepted for ``number``, once it has."""
    def enough() -> list[ReassembledMessage] | None:
        got = _received(smsc, number)
        return got if len(got) >= count else None

    found = eventually(enough, f"confirmation {count} to {number}")
    assert len(found) == count, [_words(message) for message in found]
    return found[-1]


def _words(message: ReassembledMessage) -> str:
    assert message.complete and not message.duplicates
    first = next(part for part in message.parts if (part.sequence or 1) == 1)
    return decode_short_message(first.data_coding, 0, message.octets)


def test_keywords_from_phones_change_subscriptions_and_each_is_confirmed(
        smsc: SimulatorThread, pump: InboundPump, session_factory: Factory) -> None:
    _text(smsc, FIRST, "DY 朝阳")
    subscribed = _reply(smsc, FIRST, 1)
    assert subscribed.parts[0].data_coding == DATA_CODING_UCS2
    assert _words(subscribed).startswith(DEFAULT_SIGNATURE) and "朝阳区" in _words(subscribed)

    _text(smsc, SECOND, "SUB 110108")
    english = _reply(smsc, SECOND, 1)
    assert english.parts[0].data_coding == 0 and "Haidian" in _words(english)
    assert DEFAULT_SIGNATURE not in _words(english)

    _text(smsc, FIRST, "EN")
    assert "English" in _words(_reply(smsc, FIRST, 2))
    assert sms_targets(session_factory) == [
        (FIRST, CHAOYANG, "en-US", False, True), (SECOND, HAIDIAN, "en-US", False, True)]

    _text(smsc, FIRST, "TD")
    assert "unsubscribed" in _words(_reply(smsc, FIRST, 3))
    assert [target for target in sms_targets(session_factory) if target[0] == FIRST] == [
        (FIRST, "", "en-US", False, False)]


def test_an_unknown_district_is_answered_with_the_close_ones(
        smsc: SimulatorThread, pump: InboundPump, session_factory: Factory) -> None:
    _text(smsc, FIRST, "DY 朝杨")
    reply = _words(_reply(smsc, FIRST, 1))
    assert "朝杨" in reply and "朝阳区 (110105)" in reply
    assert sms_targets(session_factory) == []


def test_a_text_from_a_landline_is_logged_and_not_answered(
        smsc: SimulatorThread, pump: InboundPump, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="publisher.services.sms_inbound")
    _text(smsc, LANDLINE, "DY 朝阳")
    _text(smsc, FIRST, "DY 朝阳")
    # Texts are applied in order: once the second is answered, the first was handled.
    _reply(smsc, FIRST, 1)
    assert _received(smsc, LANDLINE) == []
    refused = [record for record in caplog.records if record.getMessage().startswith(
        "sms text from a phone ignored")]
    assert len(refused) == 1
    assert refused[0].field == "msisdn" and "not a mobile number" in refused[0].reason


def _drain_until(pump: InboundPump, smsc: SimulatorThread, number: str,
                 count: int) -> list[ReassembledMessage]:
    def drained() -> list[ReassembledMessage] | None:
        pump.drain()
        found = _received(smsc, number)
        return found if len(found) >= count else None
    return eventually(drained, f"{count} confirmations to {number}")


def test_a_confirmation_that_cannot_go_out_is_retried_and_then_arrives(
        smsc: SimulatorThread, channel: SmsChannel, session_factory: Factory,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="publisher.services.sms_inbound")
    # Drained by hand, so that the SMSC goes down between the text and its answer.
    pump = InboundPump(channel, session_factory, DISTRICTS, reply_retry=0.1)
    channel.start()
    _queued_text(smsc, channel, FIRST, "SUB Chaoyang")
    smsc.set_fault(FaultMode.DROP)
    pump.drain()
    assert sms_targets(session_factory) == [(FIRST, CHAOYANG, "en-US", False, True)]
    waiting = [record for record in caplog.records
               if record.getMessage() == "sms confirmation not sent yet; will retry"]
    assert len(waiting) == 1 and "no SMPP bind" in waiting[0].reason

    smsc.set_fault(FaultMode.NONE)
    # The SMSC never got its answer to the text, so it delivers it again: the
    # subscription stays one, and that text is confirmed as well.
    confirmations = _drain_until(pump, smsc, FIRST, 2)
    assert len(confirmations) == 2
    assert all("Chaoyang" in _words(message) for message in confirmations)
    assert sms_targets(session_factory) == [(FIRST, CHAOYANG, "en-US", False, True)]
    # The first waited for the SMSC, tried again every 0.1 s until its bind was back.
    sent = [record.attempts for record in caplog.records
            if record.getMessage() == "sms confirmation sent"]
    assert len(sent) == 2 and max(sent) >= 2, sent


def test_a_confirmation_is_given_up_after_its_attempts_and_says_so(
        smsc: SimulatorThread, channel: SmsChannel, session_factory: Factory,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="publisher.services.sms_inbound")
    pump = InboundPump(channel, session_factory, DISTRICTS, reply_attempts=2,
                       reply_retry=0.0)
    channel.start()
    _queued_text(smsc, channel, FIRST, "DY 海淀")
    smsc.set_fault(FaultMode.DROP)
    pump.drain()
    pump.drain()
    pump.stop()
    given_up = [record for record in caplog.records
                if record.getMessage() == "sms confirmation not sent: given up"]
    assert len(given_up) == 1
    assert given_up[0].attempts == 2 and given_up[0].why == "attempts used up"
    assert given_up[0].to == "+86*******0301"
    smsc.set_fault(FaultMode.NONE)
    assert _received(smsc, FIRST) == []


def _published_to_both(session_factory: Factory) -> int:
    """An actual alert for Chaoyang (FIRST, in Chinese) and Haidian (SECOND, in English)."""
    with session_factory() as session:
        add_subscribers(session, {FIRST: (CHAOYANG, "zh-CN"), SECOND: (HAIDIAN, "en-US")})
        return publish(session, status=Status.ACTUAL,
                       areas=geocoded(CHAOYANG) + geocoded(HAIDIAN)).id


def _final(session_factory: Factory, message_id: int) -> list[Delivery]:
    def final_deliveries() -> list[Delivery] | None:
        found = deliveries(session_factory, message_id)
        return found if all(delivery.status.is_final for delivery in found) else None

    return eventually(final_deliveries, "receipts recorded by the pump")


def _receipts(session_factory: Factory, provider_ids: Collection[str] | None = None
              ) -> list[Receipt]:
    with session_factory() as session:
        query = select(Receipt).order_by(Receipt.id)
        if provider_ids is not None:
            query = query.where(Receipt.provider_id.in_(list(provider_ids)))
        return list(session.scalars(query))


def _handed_over_and_receipts_queued(session_factory: Factory, message_id: int,
                                     channel: SmsChannel) -> set[str]:
    """Hands the message's SMS over; their parts' provider ids, once every receipt is queued."""
    deliver_in_process(session_factory, message_id, channel)
    sent = {part.provider_id for delivery in deliveries(session_factory, message_id)
            for part in parts_of(session_factory, delivery.id)}
    eventually(lambda: channel.receipts.qsize() >= len(sent), "every receipt queued")
    return sent


def test_receipts_are_recorded_while_the_pump_runs(
        smsc: SimulatorThread, channel: SmsChannel, pump: InboundPump,
        session_factory: Factory) -> None:
    message_id = _published_to_both(session_factory)
    deliver_in_process(session_factory, message_id, channel)
    final = _final(session_factory, message_id)
    assert [delivery.status for delivery in final] == [DeliveryStatus.DELIVERED] * 2


def test_a_backlog_of_receipts_is_recorded_in_bounded_transactions(
        smsc_factory: StartSmsc, session_factory: Factory) -> None:
    # Not started: the receipts wait in the channel's queue, as they do in a
    # worker that falls behind its SMSC, until one round takes them. The SMSC
    # waits for their answers longer than that.
    smsc = smsc_factory(receipt_response_timeout=60.0)
    channel = sms_channel(single_route(smsc.port, bind_timeout=0.5))
    pump = InboundPump(channel, session_factory, DISTRICTS, receipts_per_transaction=2)
    message_id = _published_to_both(session_factory)
    sent = _handed_over_and_receipts_queued(session_factory, message_id, channel)
    commits: list[int] = []
    event.listen(session_factory, "after_commit", lambda session: commits.append(1))

    try:
        pump.drain()
    finally:
        channel.close()

    assert len(sent) > 2  # the Chinese alert went in parts
    assert channel.receipts.qsize() == 0
    assert len(commits) == math.ceil(len(sent) / 2)
    assert {receipt.provider_id: receipt.outcome for receipt in _receipts(session_factory)} == {
        provider_id: ReceiptOutcome.APPLIED for provider_id in sent}
    assert [delivery.status for delivery in deliveries(session_factory, message_id)] == [
        DeliveryStatus.DELIVERED] * 2


def test_a_receipt_is_answered_only_once_stored_and_one_lost_before_comes_again(
        smsc_factory: StartSmsc, session_factory: Factory) -> None:
    smsc = smsc_factory(receipt_response_timeout=60.0)
    dying = sms_channel(single_route(smsc.port, bind_timeout=0.5))
    message_id = _published_to_both(session_factory)
    try:
        sent = _handed_over_and_receipts_queued(session_factory, message_id, dying)
    finally:
        # The worker ends with its receipts taken and never stored.
        dying.close()

    channel = sms_channel(single_route(smsc.port, bind_timeout=0.5))
    pump = InboundPump(channel, session_factory, DISTRICTS)
    pump.start()
    try:
        # Only the SMSC has them now: answered at once, it would not send them again.
        final = _final(session_factory, message_id)
    finally:
        pump.stop()
        channel.close()

    assert [delivery.status for delivery in final] == [DeliveryStatus.DELIVERED] * 2
    stored = _receipts(session_factory)
    assert sorted(receipt.provider_id or "" for receipt in stored) == sorted(sent)
    assert {receipt.outcome for receipt in stored} == {ReceiptOutcome.APPLIED}


def test_receipts_the_smsc_sent_again_while_waiting_are_answered_and_stored_once(
        smsc_factory: StartSmsc, session_factory: Factory,
        caplog: pytest.LogCaptureFixture) -> None:
    # An SMSC that waits 0.2 s for each answer, and a worker that takes longer:
    # every receipt comes again, several times, before the first is stored.
    smsc = smsc_factory(receipt_response_timeout=0.2, receipt_retry_interval=0.1)
    channel = sms_channel(single_route(smsc.port, bind_timeout=0.5))
    pump = InboundPump(channel, session_factory, DISTRICTS)
    caplog.set_level(logging.WARNING, logger="publisher.services.sms_inbound")
    message_id = _published_to_both(session_factory)
    try:
        sent = _handed_over_and_receipts_queued(session_factory, message_id, channel)
        time.sleep(1.5)  # five rounds of the SMSC's sending again
        assert channel.receipts.qsize() == len(sent)  # the copies were not queued
        pump.drain()
        stored_first = _receipts(session_factory)

        quiet_since = time.monotonic()

        def answered_for_a_second() -> bool:
            # Answered well inside the SMSC's 0.2 s, the copies on the wire stop coming.
            nonlocal quiet_since
            if channel.receipts.qsize() or channel.copies.copies_taken():
                quiet_since = time.monotonic()
            pump.drain()
            return time.monotonic() - quiet_since > 1.0

        eventually(answered_for_a_second, "the SMSC stops sending the receipts again")
    finally:
        channel.close()

    assert sorted(receipt.provider_id or "" for receipt in stored_first) == sorted(sent)
    assert [(receipt.id, receipt.outcome) for receipt in _receipts(session_factory)] == [
        (receipt.id, ReceiptOutcome.APPLIED) for receipt in stored_first]
    assert [delivery.status for delivery in deliveries(session_factory, message_id)] == [
        DeliveryStatus.DELIVERED] * 2
    late = [record for record in caplog.records
            if record.getMessage().startswith("sms receipts answered late")]
    assert late and late[0].copies >= 2 * len(sent)


def test_a_text_is_answered_only_once_applied(smsc_factory: StartSmsc,
                                              session_factory: Factory) -> None:
    smsc = smsc_factory(receipt_response_timeout=60.0)
    channel = sms_channel(single_route(smsc.port, bind_timeout=0.5))
    channel.start()
    pump = InboundPump(channel, session_factory, DISTRICTS)
    try:
        answered = smsc.inject_mo(FIRST.removeprefix("+"), SOURCE_ADDR, "DY 朝阳")
        eventually(lambda: channel.mobile_originated.qsize() == 1, "the text queued")
        time.sleep(0.5)
        assert not answered.done()
        pump.start()
        answered.result(DEADLINE)
        assert "朝阳区" in _words(_reply(smsc, FIRST, 1))
    finally:
        pump.stop()
        channel.close()


def test_a_pump_takes_over_the_recent_receipts_that_match_nothing_yet(
        session_factory: Factory) -> None:
    now = utcnow()
    with session_factory() as session:
        session.add_all([
            Receipt(channel="sms", raw="{}", provider_id=provider_id, outcome=outcome,
                    received_at=now - timedelta(seconds=age))
            for provider_id, outcome, age in [
                ("primary:old", ReceiptOutcome.UNKNOWN, 900),
                ("primary:a", ReceiptOutcome.UNKNOWN, 30),
                ("primary:matched", ReceiptOutcome.APPLIED, 20),
                ("primary:b", ReceiptOutcome.UNKNOWN, 10),
                ("primary:c", ReceiptOutcome.UNKNOWN, 5)]])
        session.add(Receipt(channel="wechat", raw="{}", provider_id="w", received_at=now,
                            outcome=ReceiptOutcome.UNKNOWN))
        session.commit()
    channel = sms_channel(single_route(1))

    assert unmatched_since(session_factory, channel, 600.0, 10) == [
        "primary:a", "primary:b", "primary:c"]
    assert unmatched_since(session_factory, channel, 600.0, 2) == ["primary:b", "primary:c"]


class _LateToCommit(SmsChannel):
    """Hands a batch over, then holds its results until ``before_recording`` has run."""

    def __init__(self, options: Mapping[str, Any],
                 before_recording: Callable[[list[SendResult]], None]) -> None:
        super().__init__(options)
        self._before_recording = before_recording

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        results = super().send(message, targets)
        self._before_recording(results)
        return results


def test_a_receipt_that_overtook_its_batch_finds_its_delivery_once_the_batch_commits(
        smsc: SimulatorThread, session_factory: Factory) -> None:
    overtaking: list[Receipt] = []

    def receipts_stored_first(results: list[SendResult]) -> None:
        # The batch has its answers but has not committed them: every
        # receipt arrives, and is stored, before the parts it names.
        provider_ids = {part for result in results for part in result.parts}
        overtaking.extend(eventually(
            lambda: (found := _receipts(session_factory, provider_ids))
            and len(found) == len(provider_ids) and found,
            "the receipts stored before their batch committed"))

    channel = _LateToCommit(single_route(smsc.port, bind_timeout=0.5), receipts_stored_first)
    pump = InboundPump(channel, session_factory, DISTRICTS, rematch_interval=0.0)
    pump.start()
    try:
        message_id = _published_to_both(session_factory)
        deliver_in_process(session_factory, message_id, channel)
        final = _final(session_factory, message_id)
    finally:
        pump.stop()

    assert len(overtaking) > 2  # the Chinese alert went in parts
    assert {receipt.outcome for receipt in overtaking} == {ReceiptOutcome.UNKNOWN}
    assert [delivery.status for delivery in final] == [DeliveryStatus.DELIVERED] * 2
    stored = _receipts(session_factory)
    assert [receipt.id for receipt in stored] == [receipt.id for receipt in overtaking]
    for delivery in final:
        parts = parts_of(session_factory, delivery.id)
        assert {part.status for part in parts} == {DeliveryStatus.DELIVERED}
        mine = [receipt for receipt in stored
                if receipt.provider_id in {part.provider_id for part in parts}]
        assert len(mine) == len(parts)
        assert {(receipt.delivery_id, receipt.outcome) for receipt in mine} == {
            (delivery.id, ReceiptOutcome.APPLIED)}


def test_receipts_of_confirmations_are_stored_and_not_waited_for(
        smsc: SimulatorThread, channel: SmsChannel, session_factory: Factory,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="publisher.services.sms_inbound")

    def given_up() -> list[logging.LogRecord]:
        return [record for record in caplog.records
                if record.getMessage() == "sms receipts match no delivery"]

    pump = InboundPump(channel, session_factory, DISTRICTS, reply_retry=0.1,
                       receipt_wait=0.5, rematch_interval=0.0)
    pump.start()
    try:
        _text(smsc, FIRST, "DY 朝阳")
        confirmation = _reply(smsc, FIRST, 1)
        # Not sent by the pump, and of no delivery: its receipt is waited for in vain.
        stray = channel.send_reply(SECOND, "Subscribed to Haidian.", "en-US")
        stored = eventually(
            lambda: (found := _receipts(session_factory))
            and len(found) == len(confirmation.parts) + len(stray) and found,
            "the receipts of both texts")
        eventually(given_up, "the stray receipt given up")
    finally:
        pump.stop()

    assert {(receipt.outcome, receipt.delivery_id) for receipt in stored} == {
        (ReceiptOutcome.UNKNOWN, None)}
    # Given up once, after its time; the confirmation's receipts are never named.
    [record] = given_up()
    assert sorted(record.provider_ids) == sorted(stray)
    assert record.why == "no hand-over named them in time" and record.levelno == logging.INFO
