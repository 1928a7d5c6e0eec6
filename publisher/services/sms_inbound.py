"""What the SMSC sends us: delivery receipts and mobile-originated messages, into the services.

The binds' threads only enqueue each ``deliver_sm`` (``SmsChannel.receipts``
and ``SmsChannel.mobile_originated``); an ``InboundPump`` thread takes them
from there while the worker runs:

- receipts are recorded through ``record_receipt``, every receipt taken in
  one drain in one transaction;
- a mobile-originated message is read (GSM, IA5, Latin-1 or UCS-2, by its
  ``data_coding``), applied by ``handle_mo`` and committed, then its
  confirmation goes back through ``SmsChannel.send_reply``. A confirmation
  the SMSC does not take is retried a bounded number of times, and one that
  is given up is logged with the reason; a text from a number that is no
  mobile number is logged with the field and the reason, and not answered.

When the database refuses a drain, what was taken stays in hand and is tried
again after a pause that grows while the failures last. Stopping the pump
drains what is left once more.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.base import PermanentChannelError, TransientChannelError
from publisher.channels.smpp_bind import InboundMessage
from publisher.channels.sms import SmsChannel
from publisher.channels.sms_encoding import SmsEncodingError, decode_short_message
from publisher.services.district_names import DistrictNames
from publisher.services.errors import InvalidInput
from publisher.services.msisdn import normalise_msisdn
from publisher.services.receipts import record_receipt
from publisher.services.subscriber_commands import handle_mo
from publisher.store.models import ReceiptOutcome

__all__ = [
    "InboundPump",
    "PendingReply",
    "drain_receipts",
    "message_text",
    "receipt_fields",
    "record_receipts",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

PUMP_INTERVAL_SECONDS = 0.15
REPLY_ATTEMPTS = 5
# The first retry of a confirmation waits this long; each further one twice as long.
REPLY_RETRY_SECONDS = 2.0
# After a failed drain the pump waits longer each time, up to this.
MAX_PAUSE_SECONDS = 30.0
# A number is personal data: logs show its country code and last digits only.
_SHOWN_DIGITS = 4


def receipt_fields(message: InboundMessage) -> dict[str, Any]:
    """The raw receipt as stored and parsed: the deliver_sm's fields, its octets in hex."""
    return {"receipted_message_id": message.receipted_message_id,
            "message_state": message.message_state,
            "short_message": message.short_message.hex(),
            "esm_class": message.esm_class, "data_coding": message.data_coding,
            "source_addr": message.source_addr, "bind": message.bind}


def record_receipts(session_factory: sessionmaker[Session], channel: SmsChannel,
                    messages: Sequence[InboundMessage]) -> int:
    """Record ``messages`` in one transaction; returns how many were recorded."""
    if not messages:
        return 0
    with session_factory() as session:
        for message in messages:
            outcome = record_receipt(session, channel, receipt_fields(message))
            if outcome is ReceiptOutcome.UNKNOWN:
                log.info("sms receipt matches no delivery",
                         extra={"receipted_message_id": message.receipted_message_id,
                                "bind": message.bind})
        session.commit()
    return len(messages)


def _taken(waiting: queue.SimpleQueue[T]) -> list[T]:
    taken: list[T] = []
    while True:
        try:
            taken.append(waiting.get_nowait())
        except queue.Empty:
            return taken


def drain_receipts(channel: SmsChannel, session_factory: sessionmaker[Session]) -> int:
    """Record every receipt queued so far, in one transaction; returns how many were recorded."""
    return record_receipts(session_factory, channel, _taken(channel.receipts))


def message_text(message: InboundMessage) -> str:
    """The text of a mobile-originated message; raises SmsEncodingError naming the field."""
    octets = message.short_message or message.message_payload or b""
    return decode_short_message(message.data_coding, message.esm_class, octets)


def _masked(number: str) -> str:
    return number[:3] + "*" * max(0, len(number) - 3 - _SHOWN_DIGITS) + number[-_SHOWN_DIGITS:]


def _reason(error: Exception, number: str) -> str:
    return str(error).replace(number, _masked(number))


@dataclass(slots=True)
class PendingReply:
    """A confirmation to send: to an E.164 number, in the subscriber's language."""

    address: str
    text: str
    language: str
    attempts: int = 0
    due: float = 0.0


class InboundPump:
    """Drains one SMS channel's inbound queues into the services, on a thread of its own."""

    def __init__(self, channel: SmsChannel, session_factory: sessionmaker[Session],
                 districts: DistrictNames, *, interval: float = PUMP_INTERVAL_SECONDS,
                 reply_attempts: int = REPLY_ATTEMPTS,
                 reply_retry: float = REPLY_RETRY_SECONDS) -> None:
        self.channel = channel
        self._sessions = session_factory
        self._districts = districts
        self._interval = interval
        self._reply_attempts = reply_attempts
        self._reply_retry = reply_retry
        self._receipts: list[InboundMessage] = []
        self._mobile_originated: list[InboundMessage] = []
        self._replies: list[PendingReply] = []
        self._pause = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Open the binds (receipts and texts arrive before any send), then pump."""
        self.channel.start()
        self._thread = threading.Thread(target=self._run, name="sms-inbound", daemon=True)
        self._thread.start()
        log.info("sms inbound pump started", extra={"interval": self._interval})

    def stop(self, timeout: float = 30.0) -> None:
        """Stop pumping, drain what is left, close the binds, then record what came meanwhile."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.drain(final=True)
        self.channel.close()
        self.drain(final=True, binds_open=False)
        log.info("sms inbound pump stopped")

    def _run(self) -> None:
        while not self._stopping.wait(self._pause):
            try:
                self.drain()
            except Exception:  # the pump must outlive any one bad round; it is logged
                self._pause = min(max(self._pause * 2, 1.0), MAX_PAUSE_SECONDS)
                log.exception("sms inbound round failed", extra={"retry_in": self._pause})

    def drain(self, *, final: bool = False, binds_open: bool = True) -> None:
        """One round: record receipts, apply texts, send the confirmations that are due.

        ``final``: the last round while the binds are open, every confirmation
        is tried once more; without ``binds_open`` none is.
        """
        try:
            self._receipts += _taken(self.channel.receipts)
            recorded = record_receipts(self._sessions, self.channel, self._receipts)
            self._receipts = []
            self._mobile_originated += _taken(self.channel.mobile_originated)
            while self._mobile_originated:
                self._apply_or_drop(self._mobile_originated[0])
                del self._mobile_originated[0]
        except SQLAlchemyError as error:
            self._pause = min(max(self._pause * 2, 1.0), MAX_PAUSE_SECONDS)
            log.warning("sms inbound not stored; kept for the next round", extra={
                "receipts": len(self._receipts), "texts": len(self._mobile_originated),
                "retry_in": self._pause, "reason": str(error).splitlines()[0]})
            if not final:
                return
        else:
            self._pause = self._interval
            if recorded:
                log.debug("sms receipts recorded", extra={"receipts": recorded})
        if binds_open:
            self._send_replies(time.monotonic(), final=final)
        else:
            for reply in self._replies:
                log.error("sms confirmation not sent: given up", extra={
                    "to": _masked(reply.address), "language": reply.language,
                    "attempts": reply.attempts, "why": "the binds are closed"})
            self._replies.clear()
        if final and (self._receipts or self._mobile_originated):
            log.error("sms inbound lost at stop: the database refused it", extra={
                "receipts": len(self._receipts), "texts": len(self._mobile_originated)})

    def _apply_or_drop(self, message: InboundMessage) -> None:
        try:
            self._apply(message)
        except SQLAlchemyError:
            raise
        except Exception:  # one text that breaks a service must not block every later one
            log.exception("sms text from a phone dropped", extra={"bind": message.bind})

    def _apply(self, message: InboundMessage) -> None:
        try:
            number = normalise_msisdn(message.source_addr)
            text = message_text(message)
        except (InvalidInput, SmsEncodingError) as error:
            log.warning("sms text from a phone ignored", extra={
                "field": error.field, "reason": error.reason, "bind": message.bind})
            return
        with self._sessions() as session:
            reply = handle_mo(session, number, text, districts=self._districts)
            session.commit()
        self._replies.append(PendingReply(number, reply.text, reply.language))

    def _send_replies(self, now: float, *, final: bool) -> None:
        for reply in [each for each in self._replies if final or each.due <= now]:
            self._replies.remove(reply)
            self._send(reply, now, final=final)

    def _send(self, reply: PendingReply, now: float, *, final: bool) -> None:
        reply.attempts += 1
        context: Mapping[str, object] = {"to": _masked(reply.address),
                                         "language": reply.language,
                                         "attempts": reply.attempts}
        try:
            identifiers = self.channel.send_reply(reply.address, reply.text, reply.language)
        except PermanentChannelError as error:
            log.error("sms confirmation not sent: refused", extra={
                **context, "reason": _reason(error, reply.address)})
        except TransientChannelError as error:
            reason = _reason(error, reply.address)
            if final or reply.attempts >= self._reply_attempts:
                log.error("sms confirmation not sent: given up", extra={
                    **context, "reason": reason,
                    "why": "worker stopping" if final else "attempts used up"})
                return
            reply.due = now + self._reply_retry * 2 ** (reply.attempts - 1)
            self._replies.append(reply)
            log.warning("sms confirmation not sent yet; will retry", extra={
                **context, "reason": reason, "retry_in": reply.due - now})
        else:
            log.info("sms confirmation sent", extra={**context, "parts": len(identifiers)})
