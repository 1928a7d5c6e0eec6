"""SMPP delivery receipts: TLVs before text, hex and decimal ids, dates, part aggregation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from publisher.channels.base import DeliveryStatus, ReceiptError
from publisher.channels.smpp_pdu import Tag
from publisher.channels.sms_receipts import (
    FINAL_STATES,
    STATES,
    SmsReceipt,
    delivery_status,
    is_delivery_receipt,
    message_id_candidates,
    normalise_message_id,
    parse_receipt,
)
from publisher.sample_alert import BEIJING
from publisher.sim.smsc_outbound import receipt as simulator_receipt
from publisher.sim.smsc_state import LoggedPart

RECEIPT = 0x04
INTERMEDIATE = 0x20
UCS2 = 0x08

SIMULATOR_TEXT = (b"id:0000000500 sub:001 dlvrd:001 submit date:2407201400"
                  b" done date:2407201401 stat:DELIVRD err:000 text:hello")


def beijing(year: int, month: int, day: int, hour: int, minute: int,
            second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BEIJING)


@pytest.mark.parametrize(("value", "expected"), [
    ("1f4", "500"),
    ("1F4", "500"),
    ("0x1F4", "500"),
    ("0X01f4", "500"),
    ("0000000500", "500"),
    ("500", "500"),
    (" 500\x00", "500"),
    (b"1f4\x00", "500"),
    ("0", "0"),
    ("0000000000", "0"),
    ("ffffffffffffffff", str(2**64 - 1)),
    ("msg-7f", "msg-7f"),
    ("3b9ac9ff-0a1c", "3b9ac9ff-0a1c"),
])
def test_normalise_message_id(value: str | bytes, expected: str) -> None:
    assert normalise_message_id(value) == expected


@pytest.mark.parametrize(("value", "base", "expected"), [
    ("500", 16, "1280"),
    ("0000000500", 10, "500"),
    ("1f4", 10, "1f4"),      # letters in an id declared decimal: kept as text
    ("0x10", 10, "16"),      # an explicit prefix outranks the declared base
])
def test_normalise_message_id_with_a_known_base(value: str, base: Any, expected: str) -> None:
    assert normalise_message_id(value, base=base) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("1f4", {"500"}),
    ("0x500", {"1280"}),
    ("0000000500", {"500", "1280"}),
    ("10", {"10", "16"}),
    ("msg-7", {"msg-7"}),
])
def test_message_id_candidates(value: str, expected: set[str]) -> None:
    assert message_id_candidates(value) == expected


@pytest.mark.parametrize("value", ["", "   ", "\x00", b""])
def test_an_empty_message_id_is_refused(value: str | bytes) -> None:
    with pytest.raises(ReceiptError) as caught:
        normalise_message_id(value)
    assert caught.value.field == "message_id"


def test_every_simulator_id_meets_its_decimal_receipt_id() -> None:
    # submit_sm_resp gives the counter in hex, the receipt text in 10 decimal digits.
    for number in range(5000):
        hex_id, text_id = f"{number:x}", f"{number:010d}"
        assert message_id_candidates(hex_id) & message_id_candidates(text_id)
        assert normalise_message_id(hex_id, base=16) == normalise_message_id(text_id)


RECEIPT_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("simulator: TLVs and text agree",
     {"short_message": SIMULATOR_TEXT, "receipted_message_id": "1f4", "message_state": 2},
     {"message_id": "500", "raw_message_id": "1f4", "state": "DELIVRD", "final": True,
      "error_code": "000", "submitted_at": beijing(2024, 7, 20, 14, 0),
      "done_at": beijing(2024, 7, 20, 14, 1), "warnings": ()}),
    ("TLVs only",
     {"receipted_message_id": "1f4", "message_state": 5},
     {"message_id": "500", "state": "UNDELIV", "final": True, "error_code": None,
      "submitted_at": None, "done_at": None, "warnings": ()}),
    ("TLV id as bytes with its NUL",
     {"receipted_message_id": b"1f4\x00", "message_state": 3},
     {"message_id": "500", "state": "EXPIRED", "final": True}),
    ("text only",
     {"short_message": SIMULATOR_TEXT},
     {"message_id": "500", "raw_message_id": "0000000500", "state": "DELIVRD", "final": True,
      "error_code": "000"}),
    ("upper-case keys, extra spaces",
     {"short_message": b"ID: 0000000500  SUB:001 DLVRD:000 SUBMIT  DATE: 2407201400"
                       b"   DONE DATE:2407201405 STAT: UNDELIV ERR: 012 TEXT: x"},
     {"message_id": "500", "state": "UNDELIV", "error_code": "012",
      "submitted_at": beijing(2024, 7, 20, 14, 0), "done_at": beijing(2024, 7, 20, 14, 5)}),
    ("lower-case state word, hex text id",
     {"short_message": b"id:1f4 stat:delivrd"},
     {"message_id": "500", "state": "DELIVRD", "error_code": None, "submitted_at": None}),
    ("full state name",
     {"short_message": b"id:77 stat:UNDELIVERABLE err:001"},
     {"message_id": "77", "state": "UNDELIV"}),
    ("ids disagree: the TLV wins",
     {"short_message": b"id:0000000501 stat:DELIVRD", "receipted_message_id": "1f4",
      "message_state": 2},
     {"message_id": "500", "state": "DELIVRD",
      "warnings": ("message_id: the TLV says '1f4', the text '0000000501'; the TLV wins",)}),
    ("states disagree: the TLV wins",
     {"short_message": b"id:0000000500 stat:UNDELIV", "receipted_message_id": "1f4",
      "message_state": 2},
     {"state": "DELIVRD",
      "warnings": ("message_state: the TLV says 'DELIVRD', the text 'UNDELIV'; the TLV wins",)}),
    ("an unknown message_state falls back to the text",
     {"short_message": b"id:9 stat:REJECTD", "message_state": 42},
     {"message_id": "9", "state": "REJECTD",
      "warnings": ("message_state: 42 is not an SMPP 3.4 state",)}),
    ("the text: field cannot override the state",
     {"short_message": b"id:9 stat:DELIVRD err:000 text:stat:UNDELIV id:1"},
     {"message_id": "9", "state": "DELIVRD"}),
    ("intermediate notification",
     {"esm_class": INTERMEDIATE, "receipted_message_id": "a", "message_state": 1},
     {"message_id": "10", "state": "ENROUTE", "final": False}),
    ("accepted is not final",
     {"receipted_message_id": "a", "message_state": 6},
     {"state": "ACCEPTD", "final": False}),
    ("UCS-2 receipt text",
     {"short_message": "id:0000000500 stat:EXPIRED".encode("utf-16-be"), "data_coding": UCS2},
     {"message_id": "500", "state": "EXPIRED"}),
    ("arrives days late, with seconds",
     {"short_message": b"id:0000000500 submit date:240720140005 done date:240723141530"
                       b" stat:DELIVRD err:000", "receipted_message_id": "1f4",
      "message_state": 2},
     {"submitted_at": beijing(2024, 7, 20, 14, 0, 5), "done_at": beijing(2024, 7, 23, 14, 15, 30),
      "final": True}),
    ("an unreadable date is a warning, not a failure",
     {"short_message": b"id:5 submit date:24072 done date:2413991400 stat:DELIVRD"},
     {"state": "DELIVRD", "submitted_at": None, "done_at": None,
      "warnings": ("submit date: '24072' is not a date as YYMMDDhhmm or YYMMDDhhmmss",
                   "done date: '2413991400' is not a date as YYMMDDhhmm or YYMMDDhhmmss")}),
]


@pytest.mark.parametrize(("fields", "expected"), [case[1:] for case in RECEIPT_CASES],
                         ids=[case[0] for case in RECEIPT_CASES])
def test_parse_receipt(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    parsed = parse_receipt(**{"esm_class": RECEIPT, **fields})
    assert {name: getattr(parsed, name) for name in expected} == expected


def test_days_late_receipt_keeps_its_delay() -> None:
    parsed = parse_receipt(esm_class=RECEIPT, short_message=(
        b"id:1 submit date:2407201400 done date:2407231415 stat:DELIVRD"))
    assert parsed.submitted_at is not None and parsed.done_at is not None
    assert parsed.done_at - parsed.submitted_at == timedelta(days=3, minutes=15)


def test_dates_are_read_in_the_smsc_time_zone() -> None:
    parsed = parse_receipt(esm_class=RECEIPT, smsc_timezone=UTC,
                           short_message=b"id:1 done date:2407201400 stat:DELIVRD")
    assert parsed.done_at == datetime(2024, 7, 20, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(("fields", "field"), [
    ({"esm_class": 0x00, "short_message": SIMULATOR_TEXT}, "esm_class"),
    ({"esm_class": RECEIPT, "short_message": b"stat:DELIVRD"}, "message_id"),
    ({"esm_class": RECEIPT, "message_state": 2}, "message_id"),
    ({"esm_class": RECEIPT, "short_message": b"id:1 err:000"}, "message_state"),
    ({"esm_class": RECEIPT, "short_message": b"id:1 stat:GONE"}, "message_state"),
    ({"esm_class": RECEIPT, "receipted_message_id": "1", "message_state": 0}, "message_state"),
    ({"esm_class": RECEIPT, "short_message": b"\xd8\x00", "data_coding": UCS2}, "short_message"),
])
def test_unreadable_receipts_name_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ReceiptError) as caught:
        parse_receipt(**fields)
    assert caught.value.field == field


def test_the_missing_state_error_says_what_was_wrong() -> None:
    with pytest.raises(ReceiptError, match="'GONE' is not a receipt state"):
        parse_receipt(esm_class=RECEIPT, short_message=b"id:1 stat:GONE")


@pytest.mark.parametrize(("esm_class", "expected"), [
    (0x00, False), (0x04, True), (0x08, False), (0x20, True), (0x44, True), (0x40, False)])
def test_is_delivery_receipt(esm_class: int, expected: bool) -> None:
    assert is_delivery_receipt(esm_class) is expected


@pytest.mark.parametrize("delivered", [True, False])
def test_reads_the_simulators_own_receipt(delivered: bool) -> None:
    accepted = datetime(2024, 7, 20, 6, 0, tzinfo=UTC)
    part = LoggedPart(message_id="1f4", system_id="publisher", source_addr="12379",
                      destination_addr="8613800000001", data_coding=UCS2, esm_class=0,
                      reference=None, total=None, sequence=None, header_length=0,
                      short_message="暴雨红色预警".encode("utf-16-be"), accepted_at=accepted)
    sent = simulator_receipt(part, 500, delivered, accepted + timedelta(days=2))
    parsed = parse_receipt(
        esm_class=sent.esm_class, short_message=sent.short_message,
        data_coding=sent.data_coding,
        receipted_message_id=sent.tlvs[Tag.RECEIPTED_MESSAGE_ID],
        message_state=sent.tlvs[Tag.MESSAGE_STATE][0], smsc_timezone=UTC)
    assert parsed == SmsReceipt(
        message_id="500", state="DELIVRD" if delivered else "UNDELIV", final=True,
        error_code="000" if delivered else "001", submitted_at=accepted,
        done_at=accepted + timedelta(days=2), raw_message_id="1f4")
    assert parsed.candidates == {"500"}
    assert parsed.delivery_status is (DeliveryStatus.DELIVERED if delivered
                                      else DeliveryStatus.FAILED)


@pytest.mark.parametrize(("state", "expected"), [
    ("DELIVRD", DeliveryStatus.DELIVERED),
    ("EXPIRED", DeliveryStatus.EXPIRED),
    ("DELETED", DeliveryStatus.FAILED),
    ("UNDELIV", DeliveryStatus.FAILED),
    ("REJECTD", DeliveryStatus.FAILED),
    ("UNKNOWN", DeliveryStatus.FAILED),
    ("ACCEPTD", DeliveryStatus.SENT),
    ("ENROUTE", DeliveryStatus.SENT),
])
def test_delivery_status(state: str, expected: DeliveryStatus) -> None:
    assert delivery_status(state) is expected
    assert expected.is_final is (state in FINAL_STATES)


def test_every_state_has_a_delivery_status() -> None:
    assert {state: delivery_status(state) for state in STATES}.keys() == STATES
    with pytest.raises(ReceiptError):
        delivery_status("DELIVERED")
