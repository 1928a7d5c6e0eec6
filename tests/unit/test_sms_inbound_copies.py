"""deliver_sm sent again by the SMSC: told from firsts, answered with them, not read twice."""

from __future__ import annotations

import logging

import pytest

from publisher.channels.smpp_bind import Acknowledgement, InboundMessage, body_key
from publisher.channels.sms_inbound_copies import Copy, InboundCopies
from publisher.services.late_answers import LateAnswers

SMSC = "publisher@smsc.example:2775"
RECEIPT, OTHER = body_key(SMSC, b"receipt of part 1"), body_key(SMSC, b"receipt of part 2")


def _ack(sequence: int, bind: str = "smsc-1", connection: int = 1) -> Acknowledgement:
    return Acknowledgement(bind, connection, sequence)


def test_a_body_key_differs_with_any_octet_and_with_the_smsc() -> None:
    assert body_key(SMSC, b"id:1 stat:DELIVRD") != body_key(SMSC, b"id:1 stat:UNDELIV")
    assert body_key(SMSC, b"id:1 stat:DELIVRD") != body_key(SMSC, b"id:1 stat:DELIVRD\0")
    # Two carriers' receipts of their own message 1, the same minute, to one phone.
    assert body_key(SMSC, b"id:1 stat:DELIVRD") != body_key(
        "publisher@other-carrier.example:2775", b"id:1 stat:DELIVRD")
    assert body_key(SMSC, b"id:1") != body_key(SMSC + "\0id:1", b"")


def test_copies_of_a_waiting_one_are_answered_with_it_on_whichever_bind() -> None:
    copies = InboundCopies(seconds=60.0)
    assert copies.take(RECEIPT, _ack(1), now=0.0) is Copy.FIRST
    assert copies.take(OTHER, _ack(2), now=0.1) is Copy.FIRST
    assert copies.take(RECEIPT, _ack(3), now=5.0) is Copy.OF_WAITING
    assert copies.take(RECEIPT, _ack(7, bind="smsc-2"), now=11.0) is Copy.OF_WAITING
    assert copies.copies_taken() == 2
    assert copies.copies_taken() == 0

    assert copies.answered([_ack(1)]) == [_ack(1), _ack(3), _ack(7, bind="smsc-2")]
    assert copies.answered([_ack(2)]) == [_ack(2)]
    # A copy that comes after the first is stored is answered at once, by itself.
    assert copies.take(RECEIPT, _ack(9), now=12.0) is Copy.OF_STORED
    assert copies.answered([_ack(9), _ack(99)]) == [_ack(9), _ack(99)]


def test_a_refused_first_leaves_its_copies_to_come_as_firsts() -> None:
    copies = InboundCopies(seconds=60.0)
    copies.take(RECEIPT, _ack(1), now=0.0)
    copies.refused(RECEIPT)
    assert copies.take(RECEIPT, _ack(2), now=6.0) is Copy.FIRST
    assert copies.answered([_ack(1)]) == [_ack(1)]
    assert copies.answered([_ack(2)]) == [_ack(2)]


def test_closed_binds_forget_what_waits() -> None:
    copies = InboundCopies(seconds=60.0)
    copies.take(RECEIPT, _ack(1), now=0.0)
    copies.clear()
    assert copies.take(RECEIPT, _ack(1, connection=2), now=1.0) is Copy.FIRST


def test_a_stored_one_is_remembered_for_one_to_two_generations() -> None:
    copies = InboundCopies(seconds=60.0)
    copies.take(RECEIPT, _ack(1), now=0.0)
    copies.answered([_ack(1)])
    assert copies.take(RECEIPT, _ack(2), now=59.0) is Copy.OF_STORED
    assert copies.take(RECEIPT, _ack(3), now=61.0) is Copy.OF_STORED  # the older generation
    assert copies.take(RECEIPT, _ack(4), now=119.0) is Copy.OF_STORED
    assert copies.take(RECEIPT, _ack(5), now=122.0) is Copy.FIRST


def _message(arrived_at: float) -> InboundMessage:
    return InboundMessage(
        bind="smsc-1", source_addr="8613800000301", destination_addr="10620000",
        esm_class=0x04, data_coding=0, short_message=b"id:0000000001 stat:DELIVRD",
        message_payload=None, receipted_message_id="1", message_state=2,
        network_error_code=None, acknowledgement=_ack(1), arrived_at=arrived_at)


def test_late_answers_are_reported_at_most_every_interval(caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    caplog.set_level(logging.WARNING)
    late = LateAnswers(logging.getLogger("test.late"), late_seconds=3.0, report_seconds=10.0)
    late.answered([_message(100.0)], copies=0, now=101.0)  # 1 s: in time
    assert caplog.records == []

    late.answered([_message(100.0), _message(104.0)], copies=1, now=104.5)
    late.answered([_message(105.0)], copies=0, now=106.0)  # within the interval: counted
    late.answered([_message(100.0)], copies=2, now=115.0)

    reports = [(record.receipts, record.longest_seconds, record.copies)
               for record in caplog.records]
    assert reports == [(1, 4.5, 1), (1, 15.0, 2)]
