"""SMPP 3.4 delivery receipts: what a ``deliver_sm`` says about a message part we submitted.

A receipt names the part by the message id the SMSC gave it in
``submit_sm_resp`` and says where it stands. Both come twice: in the TLVs
``receipted_message_id`` and ``message_state``, and in the receipt text of
SMPP 3.4 Appendix B (``id:... sub:... dlvrd:... submit date:... done
date:... stat:... err:... text:...``). The TLVs are exact and are read first;
the text fills in what they lack. Keys of the text are read in any case and
with any spacing, and missing fields are tolerated.

Message ids. The TLV carries the id exactly as ``submit_sm_resp`` did, but
many SMSCs (ours among them) write the text ``id:`` as a 10-digit DECIMAL
number of an id they hand out in HEX: ``submit_sm_resp`` "1f4", text
"0000000500". An id therefore has a canonical form, the number it denotes in
decimal without leading zeros ("1f4", "0x1F4", "0500" and "0000000500" all
give "500"), read by this rule:

- "0x..." or any of the letters a-f: hexadecimal;
- digits only: decimal, unless the SMSC is known to write hex (``base=16``);
- anything else (a UUID, a carrier's opaque token): the text itself, trimmed.

The rule is ambiguous for a hex id without letters: "200" from such an SMSC
is the number 512, whose receipt text reads "0000000512". Correlation must
therefore either know the SMSC's base, or match on ``message_id_candidates``,
every number an id may denote ("200" -> {"200", "512"}), and prefer an exact
match of the canonical form where several stored ids share a candidate.

Final states are DELIVRD, EXPIRED, DELETED, UNDELIV, REJECTD and UNKNOWN.
ENROUTE and ACCEPTD are not: SMSCs send ACCEPTD as an intermediate
notification (the network took the message; no handset has it yet).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Literal

from publisher.channels.base import DeliveryStatus, ReceiptError
from publisher.channels.sms_encoding import (
    DATA_CODING_GSM7,
    SmsEncodingError,
    decode_short_message,
)

__all__ = [
    "DELIVERED",
    "FINAL_STATES",
    "STATES",
    "SmsReceipt",
    "delivery_status",
    "is_delivery_receipt",
    "message_id_candidates",
    "normalise_message_id",
    "parse_receipt",
]

IdBase = Literal["auto", 10, 16]

DELIVERED = "DELIVRD"
EXPIRED = "EXPIRED"
DELETED = "DELETED"
UNDELIVERABLE = "UNDELIV"
ACCEPTED = "ACCEPTD"
UNKNOWN = "UNKNOWN"
REJECTED = "REJECTD"
ENROUTE = "ENROUTE"

# SMPP 3.4 section 5.2.28, message_state.
_MESSAGE_STATES = {1: ENROUTE, 2: DELIVERED, 3: EXPIRED, 4: DELETED, 5: UNDELIVERABLE,
                   6: ACCEPTED, 7: UNKNOWN, 8: REJECTED}
STATES = frozenset(_MESSAGE_STATES.values())
FINAL_STATES = frozenset({DELIVERED, EXPIRED, DELETED, UNDELIVERABLE, REJECTED, UNKNOWN})
# Some SMSCs write the state's full name in the text instead of its 7-letter form.
_STAT_WORDS = {state: state for state in STATES} | {
    "DELIVERED": DELIVERED, "UNDELIVERABLE": UNDELIVERABLE, "ACCEPTED": ACCEPTED,
    "REJECTED": REJECTED}

_DELIVERY_STATUSES = {
    DELIVERED: DeliveryStatus.DELIVERED,
    EXPIRED: DeliveryStatus.EXPIRED,
    DELETED: DeliveryStatus.FAILED,
    UNDELIVERABLE: DeliveryStatus.FAILED,
    REJECTED: DeliveryStatus.FAILED,
    # Final without a confirmation: none will come, so it counts as not delivered.
    UNKNOWN: DeliveryStatus.FAILED,
    ACCEPTED: DeliveryStatus.SENT,
    ENROUTE: DeliveryStatus.SENT,
}

_ESM_CLASS_TYPE_MASK = 0x3C
_ESM_CLASS_RECEIPT_TYPES = frozenset({0x04, 0x20})  # SMSC receipt, intermediate notification

_TEXT_KEY = re.compile(r"\b(id|sub|dlvrd|submit\s*date|done\s*date|stat|err|text)\s*:\s*",
                       re.IGNORECASE)
_DATE_SUFFIX = re.compile(r"\s*date$")
_HEX_DIGITS = frozenset("0123456789abcdef")
_DECIMAL_DIGITS = frozenset("0123456789")
# YYMMDDhhmm or YYMMDDhhmmss; YY as strptime's %y (POSIX) reads it: 69-99 are the 1900s.
_SMSC_TIME_LENGTHS = (10, 12)
_FIRST_YEAR_OF_1900S = 69
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class SmsReceipt:
    """One part's receipt: its id (canonical and as received), state and times.

    ``warnings`` lists what was odd but did not stop the reading (a text id
    or state that disagrees with the TLVs, an unreadable date).
    """

    message_id: str
    state: str
    final: bool
    error_code: str | None
    submitted_at: datetime | None
    done_at: datetime | None
    raw_message_id: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def candidates(self) -> set[str]:
        return message_id_candidates(self.raw_message_id or self.message_id)

    @property
    def delivery_status(self) -> DeliveryStatus:
        return delivery_status(self.state)


def _clean_id(value: str | bytes) -> str:
    text = value.decode("ascii", errors="replace") if isinstance(value, bytes) else value
    cleaned = text.strip().strip("\x00").strip()
    if not cleaned:
        raise ReceiptError("message_id", "is empty")
    return cleaned


def _hex_body(text: str) -> str | None:
    lowered = text.casefold()
    body = lowered[2:] if lowered.startswith("0x") else lowered
    return body if body and set(body) <= _HEX_DIGITS else None


def normalise_message_id(value: str | bytes, base: IdBase = "auto") -> str:
    """The canonical form of an SMSC message id (see the module's rule); ``base`` if known."""
    text = _clean_id(value)
    body = _hex_body(text)
    if body is None:
        return text
    if base == 16 or text.casefold().startswith("0x"):
        return str(int(body, 16))
    if set(body) <= _DECIMAL_DIGITS:
        return str(int(body, 10))
    # Letters a-f in an id declared decimal: not a number at all.
    return str(int(body, 16)) if base == "auto" else text


def message_id_candidates(value: str | bytes) -> set[str]:
    """Every canonical form ``value`` may have: its decimal and its hexadecimal reading."""
    text = _clean_id(value)
    candidates = {normalise_message_id(text)}
    if set(text) <= _DECIMAL_DIGITS:
        candidates.add(normalise_message_id(text, base=16))
    return candidates


def is_delivery_receipt(esm_class: int) -> bool:
    """Whether a deliver_sm with this ``esm_class`` is a receipt rather than a mobile message."""
    return esm_class & _ESM_CLASS_TYPE_MASK in _ESM_CLASS_RECEIPT_TYPES


def _receipt_text(short_message: bytes, data_coding: int, esm_class: int) -> str:
    if data_coding == DATA_CODING_GSM7:
        # SMSCs write receipt text in ASCII under the "default alphabet"; read
        # as GSM 03.38, "_" and "@" in ids would come out as other letters.
        return short_message.decode("latin-1")
    try:
        return decode_short_message(data_coding, esm_class, short_message)
    except SmsEncodingError as error:
        raise ReceiptError("short_message", error.reason) from error


@functools.lru_cache(maxsize=64)
def _field_name(key: str) -> str:
    """A key as the text spells it ("Submit  Date"), as ``_text_fields`` names it."""
    return _DATE_SUFFIX.sub(" date", key.casefold())


def _text_fields(text: str) -> dict[str, str]:
    """The receipt text's fields by lower-case key with single spaces; ``text:`` ends them."""
    fields: dict[str, str] = {}
    matches = list(_TEXT_KEY.finditer(text))
    if not matches:
        return fields
    ends = [match.start() for match in matches[1:]]
    ends.append(len(text))
    for match, end in zip(matches, ends, strict=True):
        name = _field_name(match.group(1))
        if name == "text":
            break
        value = text[match.end():end].split(None, 1)
        if value and name not in fields:
            fields[name] = value[0]
    return fields


def _smsc_time(value: str | None, field: str, zone: tzinfo, warnings: list[str]
               ) -> datetime | None:
    if value is None:
        return None
    if len(value) in _SMSC_TIME_LENGTHS and value.isascii() and value.isdigit():
        # Read by slicing: strptime took half the time of reading a receipt.
        year, month, day, hour, minute = (int(value[at:at + 2]) for at in range(0, 10, 2))
        try:
            return datetime(year + (1900 if year >= _FIRST_YEAR_OF_1900S else 2000), month, day,
                            hour, minute, int(value[10:12] or 0), tzinfo=zone)
        except ValueError:
            pass
    warnings.append(f"{field}: {value!r} is not a date as YYMMDDhhmm or YYMMDDhhmmss")
    return None


def _state_from_tlv(message_state: int | None, warnings: list[str]) -> str | None:
    if message_state is None:
        return None
    state = _MESSAGE_STATES.get(message_state)
    if state is None:
        warnings.append(f"message_state: {message_state} is not an SMPP 3.4 state")
    return state


def _state_from_text(stat: str | None, warnings: list[str]) -> str | None:
    if stat is None:
        return None
    state = _STAT_WORDS.get(stat.upper())
    if state is None:
        warnings.append(f"stat: {stat!r} is not a receipt state")
    return state


def _choose(field: str, from_tlv: str | None, from_text: str | None, agree: bool,
            warnings: list[str]) -> str:
    if from_tlv is not None:
        if from_text is not None and not agree:
            warnings.append(f"{field}: the TLV says {from_tlv!r}, the text {from_text!r};"
                            " the TLV wins")
        return from_tlv
    if from_text is not None:
        return from_text
    raise ReceiptError(field, "; ".join(warnings)
                       or "neither the TLV nor the receipt text has it")


def parse_receipt(*, esm_class: int, short_message: bytes = b"", data_coding: int = 0,
                  receipted_message_id: str | bytes | None = None,
                  message_state: int | None = None,
                  smsc_timezone: tzinfo = BEIJING) -> SmsReceipt:
    """One delivery receipt from the fields of its ``deliver_sm``.

    Dates in the text carry no zone: they are read in ``smsc_timezone``.
    Raises ReceiptError (with the field) when the deliver_sm is no receipt,
    or when neither TLVs nor text give the message id or its state.
    """
    if not is_delivery_receipt(esm_class):
        raise ReceiptError("esm_class", f"0x{esm_class:02X} is not a delivery receipt")
    warnings: list[str] = []
    fields = _text_fields(_receipt_text(short_message, data_coding, esm_class))
    tlv_id = None if receipted_message_id is None else _clean_id(receipted_message_id)
    text_id = fields.get("id")
    ids_agree = (tlv_id is None or text_id is None or tlv_id == text_id
                 or bool(message_id_candidates(tlv_id) & message_id_candidates(text_id)))
    raw_id = _choose("message_id", tlv_id, text_id, ids_agree, warnings)
    tlv_state = _state_from_tlv(message_state, warnings)
    text_state = _state_from_text(fields.get("stat"), warnings)
    state = _choose("message_state", tlv_state, text_state, tlv_state == text_state, warnings)
    error_code = fields.get("err")
    return SmsReceipt(
        message_id=normalise_message_id(raw_id), state=state, final=state in FINAL_STATES,
        error_code=error_code,
        submitted_at=_smsc_time(fields.get("submit date"), "submit date", smsc_timezone,
                                warnings),
        done_at=_smsc_time(fields.get("done date"), "done date", smsc_timezone, warnings),
        raw_message_id=raw_id, warnings=tuple(warnings))


def delivery_status(state: str) -> DeliveryStatus:
    """The delivery status a receipt state moves its part to."""
    try:
        return _DELIVERY_STATUSES[state]
    except KeyError:
        raise ReceiptError("state", f"{state!r} is not one of {sorted(STATES)}") from None
