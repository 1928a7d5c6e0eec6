"""deliver_sm from the SMSC to the ESMEs: delivery receipts and mobile-originated messages.

Each goes to any bound receiver or transceiver of its system id (round
robin), not necessarily the bind that submitted the message, and is sent
again until a deliver_sm_resp with status 0 arrives: after a response
timeout, after an error status or a generic_nack, and when the bind it went
out on drops.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count

from publisher.channels.smpp_pdu import (
    CommandId,
    Pdu,
    ShortMessage,
    Status,
    Tag,
    encode_short_message,
)
from publisher.sim.smsc_session import Session
from publisher.sim.smsc_state import LoggedPart, decoded_text

__all__ = ["MessageState", "Outbound", "OutboundDispatcher", "mobile_originated", "receipt"]

log = logging.getLogger(__name__)

ESM_CLASS_RECEIPT = 0x04
DATA_CODING_DEFAULT = 0x00
DATA_CODING_UCS2 = 0x08
RECEIPT_TEXT_LENGTH = 20


class MessageState:
    """message_state values (SMPP 3.4 section 5.2.28) with the receipt's stat: word."""

    DELIVERED = (2, "DELIVRD")
    UNDELIVERABLE = (5, "UNDELIV")


@dataclass(eq=False)
class Outbound:
    system_id: str
    body: bytes
    kind: str
    attempts: int = 0
    acknowledged: asyncio.Future[None] | None = None
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


def _smpp_time(moment: datetime) -> str:
    return moment.strftime("%y%m%d%H%M")


def receipt(part: LoggedPart, message_number: int, delivered: bool,
            done: datetime) -> ShortMessage:
    """The delivery receipt of one accepted part, in the SMPP 3.4 Appendix B text form."""
    state, stat = MessageState.DELIVERED if delivered else MessageState.UNDELIVERABLE
    sample = (decoded_text(part.text_octets, part.data_coding)
              or part.text_octets.decode("ascii", errors="replace"))[:RECEIPT_TEXT_LENGTH]
    printable = "".join(c if c.isascii() and c.isprintable() else "?" for c in sample)
    text = (f"id:{message_number:010d} "
            f"sub:001 dlvrd:{'001' if delivered else '000'} "
            f"submit date:{_smpp_time(part.accepted_at)} done date:{_smpp_time(done)} "
            f"stat:{stat} err:{'000' if delivered else '001'} text:{printable}")
    return ShortMessage(
        source_addr=part.destination_addr, destination_addr=part.source_addr,
        esm_class=ESM_CLASS_RECEIPT, data_coding=DATA_CODING_DEFAULT,
        short_message=text.encode("ascii"),
        tlvs={Tag.RECEIPTED_MESSAGE_ID: part.message_id.encode("ascii") + b"\x00",
              Tag.MESSAGE_STATE: bytes((state,))})


def mobile_originated(source_addr: str, destination_addr: str, text: str) -> ShortMessage:
    """A message from a handset: the SMSC default alphabet (ASCII here) when it fits, else UCS-2."""
    if text.isascii():
        data_coding, octets = DATA_CODING_DEFAULT, text.encode("ascii")
    else:
        data_coding, octets = DATA_CODING_UCS2, text.encode("utf-16-be")
    if len(octets) > 254:
        raise ValueError(f"text: {len(octets)} octets encoded, a deliver_sm carries at most 254")
    return ShortMessage(source_addr=source_addr, destination_addr=destination_addr,
                        esm_class=0x00, data_coding=data_coding, short_message=octets)


class OutboundDispatcher:
    def __init__(self, sessions: Callable[[], Iterator[Session]], paused: Callable[[], bool],
                 response_timeout: float, retry_interval: float, max_attempts: int) -> None:
        self._sessions = sessions
        self._paused = paused
        self._response_timeout = response_timeout
        self._retry_interval = retry_interval
        self._max_attempts = max_attempts
        self._turn = count()
        self._parked: dict[str, list[Outbound]] = defaultdict(list)
        self._awaited: set[asyncio.Future[None]] = set()
        self._closed = False

    def send(self, system_id: str, message: ShortMessage, kind: str, delay: float = 0.0,
             acknowledged: asyncio.Future[None] | None = None) -> None:
        item = Outbound(system_id, encode_short_message(message), kind, acknowledged=acknowledged)
        if acknowledged is not None:
            self._awaited.add(acknowledged)
            acknowledged.add_done_callback(self._awaited.discard)
        self._later(item, delay)

    def _later(self, item: Outbound, delay: float) -> None:
        item.timer = asyncio.get_running_loop().call_later(delay, self._attempt, item)

    def _attempt(self, item: Outbound) -> None:
        if self._closed:
            return
        if self._paused():
            self._later(item, self._retry_interval)
            return
        receivers = [s for s in self._sessions() if s.receives_for(item.system_id)]
        if not receivers:
            self._parked[item.system_id].append(item)
            return
        session = receivers[next(self._turn) % len(receivers)]
        item.attempts += 1
        sequence = session.request(CommandId.DELIVER_SM, item.body)
        session.outstanding[sequence] = item
        item.timer = asyncio.get_running_loop().call_later(
            self._response_timeout, self._timed_out, session, sequence)

    def _timed_out(self, session: Session, sequence: int) -> None:
        item = session.outstanding.pop(sequence, None)
        if item is not None:
            self._retry(item, "no deliver_sm_resp in time")

    def _retry(self, item: Outbound, reason: str) -> None:
        if item.attempts >= self._max_attempts:
            log.warning("smsc gave up a deliver_sm", extra={
                "kind": item.kind, "system_id": item.system_id, "attempts": item.attempts,
                "reason": reason})
            if item.acknowledged is not None and not item.acknowledged.done():
                item.acknowledged.set_exception(TimeoutError(
                    f"deliver_sm: not acknowledged after {item.attempts} attempts ({reason})"))
            return
        self._later(item, self._retry_interval)

    def on_response(self, session: Session, pdu: Pdu) -> None:
        item = session.outstanding.pop(pdu.sequence, None)
        if item is None:
            return
        if item.timer is not None:
            item.timer.cancel()
        if pdu.command_id == CommandId.DELIVER_SM.response and pdu.status == Status.ROK:
            if item.acknowledged is not None and not item.acknowledged.done():
                item.acknowledged.set_result(None)
            return
        self._retry(item, f"status 0x{pdu.status:02X} in command 0x{pdu.command_id:08X}")

    def receiver_bound(self, system_id: str) -> None:
        for item in self._parked.pop(system_id, []):
            self._later(item, 0.0)

    def session_closed(self, session: Session) -> None:
        for item in session.outstanding.values():
            if item.timer is not None:
                item.timer.cancel()
            self._later(item, 0.0)
        session.outstanding.clear()

    def close(self) -> None:
        self._closed = True
        self._parked.clear()
        for acknowledged in list(self._awaited):
            acknowledged.cancel()
