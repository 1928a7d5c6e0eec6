"""SMS text as SMPP 3.4 carries it: alphabet, segments, concatenation headers.

The alphabet is the GSM 7-bit default (with its extension table) when every
character of the text is in it, else UCS-2 (UTF-16BE). Chinese is never in
the GSM alphabet, so Chinese text is always UCS-2.

A text that does not fit one SMS (160 septets, or 70 UCS-2 code units) goes
out in parts, each starting with a user data header (UDH) that names the
concatenation: IEI 0x08, a 16-bit reference, so that the handset does not
confuse two alerts sent close together (an 8-bit reference wraps after 256
messages to the same number, which a storm of updates can reach).

That header is 7 octets (UDHL 06, IEI 08, IEDL 04, reference high, reference
low, total, sequence) of the 140 octets of user data, which leaves
- 133 octets = 66 UCS-2 code units per part, and
- 1120 - 56 bits = 152 septets per part; 56 bits is exactly 8 septets, so no
  fill bits are needed when the SMSC packs the septets after the header.
The often-quoted 67 and 153 hold for the 6-octet header of IEI 0x00 (8-bit
reference) only. Both capacities are computed from the header length below.

GSM septets are carried unpacked, one per octet, with ``data_coding`` 0x00,
as SMPP 3.4 carries the default alphabet; the UDH stays binary octets and
``esm_class`` gets UDHI (0x40). An escape pair (extension characters such as
€ [ ] { } ~ ^ \\ |) and a UTF-16 surrogate pair (emoji) are never split
across parts: a part then ends one unit short of full.

With ``message_payload`` (an option per SMSC), the whole text travels in one
``submit_sm`` without a header and the SMSC does the segmenting.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

from publisher.channels import gsm7

__all__ = [
    "DATA_CODING_GSM7",
    "DATA_CODING_IA5",
    "DATA_CODING_LATIN1",
    "DATA_CODING_UCS2",
    "ESM_CLASS_UDHI",
    "MAX_PARTS",
    "Concatenation",
    "EncodedSms",
    "ReferenceAllocator",
    "SmsEncodingError",
    "SmsMeasure",
    "count_parts",
    "decode_short_message",
    "encode_sms",
    "measure_sms",
    "split_user_data",
]

DATA_CODING_GSM7 = 0x00  # SMPP 3.4: "SMSC default alphabet", GSM 03.38 on our routes
DATA_CODING_IA5 = 0x01
DATA_CODING_LATIN1 = 0x03
DATA_CODING_UCS2 = 0x08
ESM_CLASS_UDHI = 0x40

USER_DATA_OCTETS = 140
SINGLE_PART_SEPTETS = USER_DATA_OCTETS * 8 // 7
SINGLE_PART_UCS2_UNITS = USER_DATA_OCTETS // 2
# The total and the sequence are one octet each in the header.
MAX_PARTS = 255
# SMPP 3.4 message_payload TLV: a 16-bit length.
MAX_MESSAGE_PAYLOAD_OCTETS = 0xFFFF
MAX_REFERENCE = 0xFFFF

_IEI_CONCAT_8BIT = 0x00
_IEI_CONCAT_16BIT = 0x08
_CONCAT_16BIT_HEADER_OCTETS = 7  # UDHL, IEI, IEDL, reference (2), total, sequence

Encoding = Literal["gsm7", "ucs2"]


class SmsEncodingError(ValueError):
    """Text that cannot become an SMS, or octets that cannot become text; ``field`` says where."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _septets_per_part(header_octets: int) -> int:
    header_septets = math.ceil(header_octets * 8 / 7)  # the header plus its fill bits
    return SINGLE_PART_SEPTETS - header_septets


def _ucs2_units_per_part(header_octets: int) -> int:
    return (USER_DATA_OCTETS - header_octets) // 2


CONCATENATED_PART_SEPTETS = _septets_per_part(_CONCAT_16BIT_HEADER_OCTETS)
CONCATENATED_PART_UCS2_UNITS = _ucs2_units_per_part(_CONCAT_16BIT_HEADER_OCTETS)


@dataclass(frozen=True, slots=True)
class SmsMeasure:
    """How a text will travel: its alphabet, its length in that alphabet's units, its parts."""

    encoding: Encoding
    units: int
    part_count: int

    @property
    def units_per_part(self) -> int:
        if self.part_count == 1:
            return SINGLE_PART_SEPTETS if self.encoding == "gsm7" else SINGLE_PART_UCS2_UNITS
        return (CONCATENATED_PART_SEPTETS if self.encoding == "gsm7"
                else CONCATENATED_PART_UCS2_UNITS)


@dataclass(frozen=True, slots=True)
class EncodedSms:
    """One text ready for ``submit_sm``: one entry of ``parts`` per PDU, header included.

    ``segment_count`` is how many SMS the handset receives (and the carrier
    bills); it equals ``part_count`` except with ``message_payload``, where one
    PDU carries the whole text and the SMSC segments it.
    """

    encoding: Encoding
    data_coding: int
    esm_class: int
    parts: tuple[bytes, ...]
    segment_count: int
    reference: int | None
    uses_message_payload: bool

    @property
    def part_count(self) -> int:
        return len(self.parts)

    def with_reference(self, reference: int) -> EncodedSms:
        """The same text under another concatenation reference: only the headers change.

        A batch sends one text to many numbers, each under its own reference;
        segmenting and encoding it once per batch and stamping the reference
        costs a fraction of encoding it for every number.
        """
        if self.reference is None:
            return self
        _check_reference(reference)
        total = len(self.parts)
        return replace(self, reference=reference, parts=tuple(
            _concatenation_header(reference, total, sequence) + part[_CONCAT_16BIT_HEADER_OCTETS:]
            for sequence, part in enumerate(self.parts, start=1)))


@dataclass(frozen=True, slots=True)
class Concatenation:
    """The concatenation element of a received part's header (8- or 16-bit reference)."""

    reference: int
    total: int
    sequence: int


class ReferenceAllocator:
    """Concatenation references 0..65535, in turn, wrapping after 65535; safe across threads.

    Handsets join parts by sender and reference, so a worker that restarted at
    0 could collide with parts still in flight from before: the default start
    is therefore random.
    """

    def __init__(self, start: int | None = None) -> None:
        first = secrets.randbelow(MAX_REFERENCE + 1) if start is None else start
        _check_reference(first)
        self._next = first
        self._lock = threading.Lock()

    def allocate(self) -> int:
        with self._lock:
            reference = self._next
            self._next = (reference + 1) % (MAX_REFERENCE + 1)
            return reference


def _check_reference(reference: int) -> None:
    if not 0 <= reference <= MAX_REFERENCE:
        raise SmsEncodingError("reference", f"{reference} is outside 0..{MAX_REFERENCE}")


def _ucs2_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _unit_costs(text: str, encoding: Encoding) -> list[int]:
    if encoding == "gsm7":
        return [len(gsm7.septets_of(char)) for char in text]
    return [_ucs2_units(char) for char in text]


def _choose_encoding(text: str) -> Encoding:
    return "gsm7" if gsm7.can_encode(text) else "ucs2"


def _split(text: str, costs: list[int], capacity: int) -> Iterator[str]:
    """Consecutive slices of ``text`` of at most ``capacity`` units, characters kept whole."""
    start = 0
    used = 0
    for index, cost in enumerate(costs):
        if used + cost > capacity:
            yield text[start:index]
            start, used = index, 0
        used += cost
    yield text[start:]


def _check_text(text: str) -> None:
    if not text:
        raise SmsEncodingError("text", "is empty")
    for offset, char in enumerate(text):
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise SmsEncodingError("text", f"lone surrogate U+{ord(char):04X} at offset {offset}")


def _segments(text: str) -> tuple[Encoding, int, list[str]]:
    _check_text(text)
    encoding = _choose_encoding(text)
    costs = _unit_costs(text, encoding)
    units = sum(costs)
    single = SINGLE_PART_SEPTETS if encoding == "gsm7" else SINGLE_PART_UCS2_UNITS
    if units <= single:
        return encoding, units, [text]
    per_part = CONCATENATED_PART_SEPTETS if encoding == "gsm7" else CONCATENATED_PART_UCS2_UNITS
    segments = list(_split(text, costs, per_part))
    if len(segments) > MAX_PARTS:
        raise SmsEncodingError("text", f"needs {len(segments)} parts ({units} {encoding} units);"
                                       f" a concatenated SMS holds at most {MAX_PARTS}")
    return encoding, units, segments


def measure_sms(text: str) -> SmsMeasure:
    """The alphabet, length and part count of ``text``, as ``encode_sms`` would send it."""
    encoding, units, segments = _segments(text)
    return SmsMeasure(encoding=encoding, units=units, part_count=len(segments))


def count_parts(text: str) -> int:
    """How many SMS the handset receives for ``text``."""
    return measure_sms(text).part_count


def _encode_text(text: str, encoding: Encoding) -> bytes:
    if encoding == "gsm7":
        return gsm7.encode_septets(text)
    return text.encode("utf-16-be")


def _concatenation_header(reference: int, total: int, sequence: int) -> bytes:
    return bytes([_CONCAT_16BIT_HEADER_OCTETS - 1, _IEI_CONCAT_16BIT, 4,
                  reference >> 8, reference & 0xFF, total, sequence])


def encode_sms(text: str, reference: int, *, use_message_payload: bool = False) -> EncodedSms:
    """``text`` as the octets of its ``submit_sm`` PDUs.

    ``reference`` (0..65535, see ``ReferenceAllocator``) goes into every part's
    header when the text needs more than one; it is not used otherwise.
    """
    _check_reference(reference)
    encoding, _, segments = _segments(text)
    data_coding = DATA_CODING_GSM7 if encoding == "gsm7" else DATA_CODING_UCS2
    if use_message_payload or len(segments) == 1:
        payload = _encode_text(text, encoding)
        if len(payload) > MAX_MESSAGE_PAYLOAD_OCTETS:
            raise SmsEncodingError("text", f"is {len(payload)} octets; message_payload holds"
                                           f" at most {MAX_MESSAGE_PAYLOAD_OCTETS}")
        return EncodedSms(encoding=encoding, data_coding=data_coding, esm_class=0,
                          parts=(payload,), segment_count=len(segments), reference=None,
                          uses_message_payload=use_message_payload)
    total = len(segments)
    parts = tuple(
        _concatenation_header(reference, total, sequence) + _encode_text(segment, encoding)
        for sequence, segment in enumerate(segments, start=1))
    return EncodedSms(encoding=encoding, data_coding=data_coding, esm_class=ESM_CLASS_UDHI,
                      parts=parts, segment_count=total, reference=reference,
                      uses_message_payload=False)


def _read_concatenation(header: bytes) -> Concatenation | None:
    """The concatenation element of a header's information elements, if it has one."""
    offset = 0
    found: Concatenation | None = None
    while offset < len(header):
        if offset + 2 > len(header):
            raise SmsEncodingError("udh", f"information element at offset {offset} is truncated")
        iei, length = header[offset], header[offset + 1]
        data = header[offset + 2:offset + 2 + length]
        if len(data) != length:
            raise SmsEncodingError("udh", f"element 0x{iei:02X} declares {length} octets,"
                                          f" {len(data)} remain")
        if iei == _IEI_CONCAT_8BIT and length == 3:
            found = Concatenation(reference=data[0], total=data[1], sequence=data[2])
        elif iei == _IEI_CONCAT_16BIT and length == 4:
            found = Concatenation(reference=data[0] << 8 | data[1], total=data[2],
                                  sequence=data[3])
        elif iei in (_IEI_CONCAT_8BIT, _IEI_CONCAT_16BIT):
            raise SmsEncodingError("udh", f"concatenation element 0x{iei:02X} has length"
                                          f" {length}")
        offset += 2 + length
    return found


def split_user_data(esm_class: int, payload: bytes) -> tuple[Concatenation | None, bytes]:
    """A received part's concatenation element (if any) and its text octets, header removed."""
    if not esm_class & ESM_CLASS_UDHI:
        return None, payload
    if not payload:
        raise SmsEncodingError("udh", "esm_class announces a header but the payload is empty")
    header_length = payload[0]
    if header_length + 1 > len(payload):
        raise SmsEncodingError("udh", f"UDHL {header_length} exceeds the {len(payload) - 1}"
                                      " octets after it")
    return _read_concatenation(payload[1:header_length + 1]), payload[header_length + 1:]


def decode_short_message(data_coding: int, esm_class: int, payload: bytes) -> str:
    """The text of a received ``short_message`` or ``message_payload``, any header removed.

    Handles the GSM default alphabet (unpacked, with its extension table),
    IA5/ASCII, Latin-1 and UCS-2; any other ``data_coding`` is refused.
    """
    _, body = split_user_data(esm_class, payload)
    try:
        if data_coding == DATA_CODING_GSM7:
            return gsm7.decode_septets(body)
        if data_coding == DATA_CODING_IA5:
            return body.decode("ascii")
        if data_coding == DATA_CODING_LATIN1:
            return body.decode("latin-1")
        if data_coding == DATA_CODING_UCS2:
            return body.decode("utf-16-be")
    except ValueError as error:
        raise SmsEncodingError("short_message", str(error)) from error
    raise SmsEncodingError("data_coding", f"0x{data_coding:02X} is not a text coding we read")
