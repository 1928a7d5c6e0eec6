"""Copies of receipts told from receipts, and late answers reported."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from publisher.channels.smpp_bind import Acknowledgement, InboundMessage
from publisher.services.resent_receipts import LateAnswers, ResentReceipts, receipt_key

RECEIPT = InboundMessage(
    bind="smsc-1", source_addr="8613800000301", destination_addr="10620000",
    esm_class=0x04, data_coding=0, short_message=b"id:0000000001 sub:001 stat:DELIVRD",
    message_payload=None, receipted_message_id="1", message_state=2,
    network_error_code=None, acknowledgement=Acknowledgement("smsc-1", 1, 7), arrived_at=100.0)


def _copy(message: InboundMessage, sequence: int, bind: str = "smsc-2") -> InboundMessage:
    """As the SMSC sends it again: on any bind, with a new sequence, a little later."""
    return replace(message, bind=bind, acknowledgement=Acknowledgement(bind, 3, sequence),
                   arrived_at=message.arrived_at + 5.0)


@pytest.mark.parametrize("change", [
    {"receipted_message_id": "2"}, {"message_state": 5},
    {"short_message": b"id:0000000001 sub:001 stat:UNDELIV"},
    {"message_payload": b"id:0000000001"}, {"source_addr": "8613800000302"}])
def test_a_receipt_differing_in_anything_the_smsc_wrote_is_no_copy(change: dict[str, object]
                                                                   ) -> None:
    assert receipt_key(replace(RECEIPT, **change)) != receipt_key(RECEIPT)
    assert receipt_key(_copy(RECEIPT, 9)) == receipt_key(RECEIPT)


def test_copies_in_one_round_and_of_stored_receipts_are_only_answered() -> None:
    resent = ResentReceipts(seconds=60.0)
    other = replace(RECEIPT, receipted_message_id="2")
    fresh, copies = resent.sort_out([RECEIPT, other, _copy(RECEIPT, 8)], now=0.0)
    assert (fresh, copies) == ([RECEIPT, other], [_copy(RECEIPT, 8)])

    # Not stored yet (the commit failed): the round is tried again as it was.
    assert resent.sort_out([RECEIPT, other, _copy(RECEIPT, 8)], now=1.0) == (fresh, copies)

    resent.remember(fresh)
    assert resent.sort_out([_copy(other, 9), _copy(RECEIPT, 10)], now=2.0) == (
        [], [_copy(other, 9), _copy(RECEIPT, 10)])


def test_a_receipt_is_remembered_for_one_to_two_generations() -> None:
    resent = ResentReceipts(seconds=60.0)
    resent.sort_out([], now=0.0)
    resent.remember([RECEIPT])
    assert resent.sort_out([_copy(RECEIPT, 8)], now=59.0)[1]
    assert resent.sort_out([_copy(RECEIPT, 8)], now=61.0)[1]  # the previous generation now
    assert resent.sort_out([_copy(RECEIPT, 8)], now=119.0)[1]
    assert resent.sort_out([_copy(RECEIPT, 8)], now=122.0) == ([_copy(RECEIPT, 8)], [])


def test_late_answers_are_reported_at_most_every_interval(caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    caplog.set_level(logging.WARNING)
    late = LateAnswers(logging.getLogger("test.late"), late_seconds=3.0, report_seconds=10.0)
    late.answered([RECEIPT], copies=0, now=101.0)  # 1 s: in time
    assert caplog.records == []

    late.answered([RECEIPT, _copy(RECEIPT, 8)], copies=1, now=104.5)
    late.answered([RECEIPT], copies=0, now=106.0)  # within the interval: counted, not logged
    late.answered([RECEIPT], copies=2, now=115.0)

    reports = [(record.receipts, record.longest_seconds, record.copies_answered)
               for record in caplog.records]
    assert reports == [(1, 4.5, 1), (2, 15.0, 2)]
