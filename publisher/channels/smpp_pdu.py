"""SMPP 3.4 protocol data units on the wire: a 16-octet big-endian header, then the body.

The bodies of bind, submit_sm and deliver_sm, tagged optional parameters
(TLVs), and the concatenation information of a message part (a UDH with an
8-bit or 16-bit reference, or the sar_* TLVs); reading framed PDUs from a
stream. The SMSC simulator speaks through it, and so does the SMS channel's
bind on its hot path (every submit_sm out, every answer and receipt in),
where building and parsing smpplib's command objects cost more than the
SMSC takes to answer.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from enum import IntEnum

from publisher.channels.sms_encoding import ESM_CLASS_UDHI, SmsEncodingError, split_user_data

__all__ = [
    "HEADER_SIZE",
    "MAX_PDU_SIZE",
    "BindRequest",
    "CommandId",
    "Concatenation",
    "MalformedPdu",
    "Pdu",
    "ShortMessage",
    "Status",
    "Tag",
    "concatenation_of",
    "encode_bind_response",
    "encode_pdu",
    "encode_short_message",
    "esm_class_of",
    "parse_bind",
    "parse_short_message",
    "read_pdu",
]

HEADER_SIZE = 16
# Large enough for a submit_sm carrying a message_payload of 64 KiB; a longer
# command_length is garbage and the stream cannot be trusted after it.
MAX_PDU_SIZE = 70_000
RESPONSE_BIT = 0x8000_0000
_HEADER = struct.Struct(">IIII")
_TLV_HEADER = struct.Struct(">HH")


class CommandId(IntEnum):
    GENERIC_NACK = 0x8000_0000
    BIND_RECEIVER = 0x0000_0001
    BIND_TRANSMITTER = 0x0000_0002
    SUBMIT_SM = 0x0000_0004
    DELIVER_SM = 0x0000_0005
    UNBIND = 0x0000_0006
    BIND_TRANSCEIVER = 0x0000_0009
    ENQUIRE_LINK = 0x0000_0015

    @property
    def response(self) -> int:
        return int(self) | RESPONSE_BIT


class Status(IntEnum):
    ROK = 0x00
    RINVMSGLEN = 0x01
    RINVCMDLEN = 0x02
    RINVCMDID = 0x03
    RINVBNDSTS = 0x04
    RALYBND = 0x05
    RSYSERR = 0x08
    RINVPASWD = 0x0E
    RINVSYSID = 0x0F
    RTHROTTLED = 0x58


class Tag(IntEnum):
    RECEIPTED_MESSAGE_ID = 0x001E
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


class MalformedPdu(ValueError):
    """A PDU whose length or body does not follow SMPP 3.4."""


@dataclass(frozen=True, slots=True)
class Pdu:
    command_id: int
    status: int
    sequence: int
    body: bytes = b""

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)


async def read_pdu(reader: asyncio.StreamReader) -> Pdu:
    """The next PDU; raises MalformedPdu on an impossible command_length, EOF errors at the end."""
    header = await reader.readexactly(HEADER_SIZE)
    length, command_id, status, sequence = _HEADER.unpack(header)
    if not HEADER_SIZE <= length <= MAX_PDU_SIZE:
        raise MalformedPdu(f"command_length: {length} is outside {HEADER_SIZE}..{MAX_PDU_SIZE}")
    body = await reader.readexactly(length - HEADER_SIZE) if length > HEADER_SIZE else b""
    return Pdu(command_id, status, sequence, body)


def encode_pdu(command_id: int, sequence: int, body: bytes = b"",
               status: int = Status.ROK) -> bytes:
    return _HEADER.pack(HEADER_SIZE + len(body), command_id, status, sequence) + body


class _BodyReader:
    """Walks a PDU body field by field; every overrun names the field."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._offset = 0

    def c_string(self, name: str, maximum: int) -> str:
        end = self._body.find(b"\x00", self._offset)
        if end < 0:
            raise MalformedPdu(f"{name}: no terminating NUL")
        if end - self._offset >= maximum:
            raise MalformedPdu(f"{name}: longer than {maximum - 1} octets")
        value = self._body[self._offset:end].decode("latin-1")
        self._offset = end + 1
        return value

    def integer(self, name: str, size: int = 1) -> int:
        chunk = self.octets(name, size)
        return int.from_bytes(chunk, "big")

    def octets(self, name: str, size: int) -> bytes:
        if self._offset + size > len(self._body):
            raise MalformedPdu(f"{name}: body ends before its {size} octets")
        chunk = self._body[self._offset:self._offset + size]
        self._offset += size
        return chunk

    def tlvs(self) -> dict[int, bytes]:
        values: dict[int, bytes] = {}
        while self._offset < len(self._body):
            tag, length = _TLV_HEADER.unpack(self.octets("TLV header", _TLV_HEADER.size))
            values[tag] = self.octets(f"TLV 0x{tag:04X}", length)
        return values


@dataclass(frozen=True, slots=True)
class BindRequest:
    system_id: str
    password: str = field(repr=False)
    system_type: str
    interface_version: int


def parse_bind(body: bytes) -> BindRequest:
    fields = _BodyReader(body)
    system_id = fields.c_string("system_id", 16)
    password = fields.c_string("password", 9)
    system_type = fields.c_string("system_type", 13)
    interface_version = fields.integer("interface_version")
    return BindRequest(system_id, password, system_type, interface_version)


def encode_bind_response(system_id: str) -> bytes:
    return system_id.encode("latin-1") + b"\x00"


@dataclass(frozen=True, slots=True)
class ShortMessage:
    """The body of a submit_sm or a deliver_sm (they share one layout)."""

    source_addr: str
    destination_addr: str
    esm_class: int
    data_coding: int
    short_message: bytes
    registered_delivery: int = 0
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    service_type: str = ""
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def content(self) -> bytes:
        """The message octets: short_message, or message_payload when that carries them."""
        if not self.short_message and Tag.MESSAGE_PAYLOAD in self.tlvs:
            return self.tlvs[Tag.MESSAGE_PAYLOAD]
        return self.short_message


def _head(fields: _BodyReader) -> tuple[str, int, int, str, int, int, str, int]:
    """service_type, the source and destination (ton, npi, address each), esm_class."""
    service_type = fields.c_string("service_type", 6)
    source_ton, source_npi = fields.integer("source_addr_ton"), fields.integer("source_addr_npi")
    source_addr = fields.c_string("source_addr", 21)
    dest_ton, dest_npi = fields.integer("dest_addr_ton"), fields.integer("dest_addr_npi")
    destination_addr = fields.c_string("destination_addr", 21)
    return (service_type, source_ton, source_npi, source_addr, dest_ton, dest_npi,
            destination_addr, fields.integer("esm_class"))


def esm_class_of(body: bytes) -> int:
    """The ``esm_class`` of a ``submit_sm`` or ``deliver_sm`` body, the rest unread.

    Raises MalformedPdu naming the field the body ends in.
    """
    return _head(_BodyReader(body))[-1]


def parse_short_message(body: bytes) -> ShortMessage:
    fields = _BodyReader(body)
    (service_type, source_ton, source_npi, source_addr, dest_ton, dest_npi, destination_addr,
     esm_class) = _head(fields)
    fields.integer("protocol_id")
    fields.integer("priority_flag")
    fields.c_string("schedule_delivery_time", 17)
    fields.c_string("validity_period", 17)
    registered_delivery = fields.integer("registered_delivery")
    fields.integer("replace_if_present_flag")
    data_coding = fields.integer("data_coding")
    fields.integer("sm_default_msg_id")
    short_message = fields.octets("short_message", fields.integer("sm_length"))
    return ShortMessage(
        source_addr=source_addr, destination_addr=destination_addr, esm_class=esm_class,
        data_coding=data_coding, short_message=short_message,
        registered_delivery=registered_delivery, source_addr_ton=source_ton,
        source_addr_npi=source_npi, dest_addr_ton=dest_ton, dest_addr_npi=dest_npi,
        service_type=service_type, tlvs=fields.tlvs())


def encode_short_message(message: ShortMessage) -> bytes:
    if len(message.short_message) > 254:
        raise MalformedPdu(f"short_message: {len(message.short_message)} octets, at most 254")
    head = b"".join((
        _c_string(message.service_type),
        bytes((message.source_addr_ton, message.source_addr_npi)),
        _c_string(message.source_addr),
        bytes((message.dest_addr_ton, message.dest_addr_npi)),
        _c_string(message.destination_addr),
        bytes((message.esm_class, 0, 0)),  # protocol_id, priority_flag
        b"\x00\x00",  # schedule_delivery_time and validity_period: empty
        bytes((message.registered_delivery, 0, message.data_coding, 0,
               len(message.short_message))),
        message.short_message,
    ))
    return head + b"".join(_TLV_HEADER.pack(tag, len(value)) + value
                           for tag, value in message.tlvs.items())


def _c_string(value: str) -> bytes:
    return value.encode("latin-1") + b"\x00"




@dataclass(frozen=True, slots=True)
class Concatenation:
    reference: int
    total: int
    sequence: int
    header_length: int  # octets of UDH before the text; 0 when the sar_* TLVs carry it


def concatenation_of(message: ShortMessage) -> Concatenation | None:
    """Where this part sits in a concatenated message, or None for a message of one part."""
    content = message.content
    if message.esm_class & ESM_CLASS_UDHI and content:
        try:
            element, text = split_user_data(message.esm_class, content)
        except SmsEncodingError:
            # The log keeps a malformed header as it came; it is just not
            # counted as part of a concatenated message.
            return None
        if element is None:
            return None
        return Concatenation(element.reference, element.total, element.sequence,
                             len(content) - len(text))
    tlvs = message.tlvs
    if Tag.SAR_MSG_REF_NUM in tlvs and Tag.SAR_TOTAL_SEGMENTS in tlvs:
        return Concatenation(int.from_bytes(tlvs[Tag.SAR_MSG_REF_NUM], "big"),
                             tlvs[Tag.SAR_TOTAL_SEGMENTS][0],
                             tlvs.get(Tag.SAR_SEGMENT_SEQNUM, b"\x01")[0], 0)
    return None
