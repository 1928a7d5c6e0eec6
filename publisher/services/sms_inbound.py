"""What the SMSC sends us: delivery receipts and mobile-originated messages, into the services.

The binds' threads only enqueue each ``deliver_sm`` (``SmsChannel.receipts``
and ``SmsChannel.mobile_originated``); an ``InboundPump`` thread takes them
from there as soon as they arrive, while the worker runs. The SMSC gets its
``deliver_sm_resp`` (``SmsChannel.acknowledge``) only after the commit that
stored what the message carried, or once a message is dropped on purpose; a
worker that dies before leaves it unanswered, and the SMSC delivers it again:

- receipts are recorded through ``store_receipts``, every receipt taken in
  one drain together, in one transaction; one that matches no delivery yet is offered
  again to ``rematch_receipts`` for a while (see ``InboundPump``). Answers
  late enough for the SMSC to send receipts again are reported, with the
  copies that came (``late_answers``, ``sms_inbound_copies``);
- a mobile-originated message is read (GSM, IA5, Latin-1 or UCS-2, by its
  ``data_coding``), applied by ``handle_mo`` and committed, then its
  confirmation goes back through ``SmsChannel.send_reply``. A confirmation
  the SMSC does not take is retried a bounded number of times, and one that
  is given up is logged with the reason; a text from a number that is no
  mobile number is logged with the field and the reason, and not answered.

When the database refuses a drain, what was taken stays in hand, unanswered,
and is tried again after a pause that grows while the failures last. Stopping
the pump drains what is left once more: what that stores while the binds are
open is answered before they unbind, and what comes after is left to the
SMSC to deliver again.

The pump also writes its binds' states for ``/health`` every few seconds
(``sms_bind_states``), and deletes them when it stops.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.base import PermanentChannelError, TransientChannelError
from publisher.channels.smpp_bind import InboundMessage
from publisher.channels.sms import SmsChannel
from publisher.channels.sms_encoding import SmsEncodingError, decode_short_message
from publisher.services.district_names import DistrictNames
from publisher.services.errors import InvalidInput
from publisher.services.late_answers import LateAnswers
from publisher.services.msisdn import normalise_msisdn
from publisher.services.receipts import rematch_receipts, store_receipts
from publisher.services.sms_bind_states import REPORT_SECONDS, BindStateReporter
from publisher.services.sms_failover_audit import record_failovers
from publisher.services.subscriber_commands import handle_mo
from publisher.services.waiting_ids import WaitingIds
from publisher.store.models import Receipt, ReceiptOutcome, utcnow

__all__ = [
    "InboundPump",
    "PendingReply",
    "drain_receipts",
    "message_text",
    "receipt_fields",
    "record_receipts",
    "unmatched_since",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

# An idle pump looks this often at what is due (re-matching, confirmations,
# bind states); what the binds receive wakes it at once.
PUMP_INTERVAL_SECONDS = 0.15
# Receipts recorded per transaction. A worker that falls behind its SMSC
# (receipts come as fast as parts go) would otherwise correlate its whole
# backlog at once: the round's rows, parsed receipts and statements grow with
# the backlog, and the memory that peak takes is not given back to the system
# (CPython's allocator frees an arena only once every object in it is gone).
RECEIPTS_PER_TRANSACTION = 1000
REPLY_ATTEMPTS = 5
# The first retry of a confirmation waits this long; each further one twice as long.
REPLY_RETRY_SECONDS = 2.0
# After a failed drain the pump waits longer each time, up to this.
MAX_PAUSE_SECONDS = 30.0
# Receipts that matched no delivery are offered again for this long, at most
# this many of them, and at most once a second.
RECEIPT_WAIT_SECONDS = 600.0
RECEIPT_WAIT_LIMIT = 10_000
REMATCH_SECONDS = 1.0
# How long the provider ids of a confirmation are known, for its receipts.
CONFIRMATION_RECEIPT_SECONDS = 3600.0
# A number is personal data: logs show its country code and last digits only.
_SHOWN_DIGITS = 4
# A log line names at most this many provider ids.
_SHOWN_IDS = 10


def receipt_fields(message: InboundMessage) -> dict[str, Any]:
    """The raw receipt as stored and parsed: the deliver_sm's fields, its octets in hex."""
    return {"receipted_message_id": message.receipted_message_id,
            "message_state": message.message_state,
            "short_message": message.short_message.hex(),
            "esm_class": message.esm_class, "data_coding": message.data_coding,
            "source_addr": message.source_addr, "bind": message.bind}


def record_receipts(session_factory: sessionmaker[Session], channel: SmsChannel,
                    messages: Sequence[InboundMessage]) -> list[str]:
    """Record ``messages`` in one transaction, then answer the SMSC for them.

    Returns the provider ids of those that matched nothing.
    """
    if not messages:
        return []
    with session_factory() as session:
        stored = store_receipts(session, channel,
                                [receipt_fields(message) for message in messages])
        # Read before the commit, which expires the rows.
        unmatched = [receipt.provider_id for receipt in stored
                     if receipt.outcome is ReceiptOutcome.UNKNOWN and receipt.provider_id]
        session.commit()
    channel.acknowledge(message.acknowledgement for message in messages)
    return unmatched


def unmatched_since(session_factory: sessionmaker[Session], channel: SmsChannel,
                    seconds: float, limit: int) -> list[str]:
    """The provider ids of the channel's receipts of the last ``seconds`` still matching nothing.

    The newest ``limit`` of them, oldest first: what a pump that stopped
    (or died) was still offering again, for the next one to take over.
    """
    since = utcnow() - timedelta(seconds=seconds)
    with session_factory() as session:
        newest = list(session.scalars(
            select(Receipt.provider_id)
            .where(Receipt.channel == channel.name, Receipt.outcome == ReceiptOutcome.UNKNOWN,
                   Receipt.provider_id.is_not(None), Receipt.received_at >= since)
            .order_by(Receipt.id.desc()).limit(limit)))
    return [provider_id for provider_id in reversed(newest) if provider_id is not None]


def _taken(waiting: queue.SimpleQueue[T], limit: float = math.inf) -> list[T]:
    taken: list[T] = []
    while len(taken) < limit:
        try:
            taken.append(waiting.get_nowait())
        except queue.Empty:
            break
    return taken


def drain_receipts(channel: SmsChannel, session_factory: sessionmaker[Session]) -> int:
    """Record (and answer) every receipt queued so far, in one transaction; how many."""
    taken = _taken(channel.receipts)
    record_receipts(session_factory, channel, taken)
    return len(taken)


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
    """Drains one SMS channel's inbound queues into the services, on a thread of its own.

    A receipt can overtake the batch that handed its part over: the SMSC
    sends it as soon as the part is delivered, while the batch still waits
    for the answers to its other parts and has not committed their provider
    ids. Such a receipt is stored as matching no delivery, and the pump keeps
    its provider id: at most ``RECEIPT_WAIT_LIMIT`` of them (the oldest go
    first), each for ``receipt_wait`` seconds (10 minutes). Every round, at
    most every ``rematch_interval`` seconds, it offers them to
    ``rematch_receipts`` again and drops those that found their delivery; a
    provider id given up, or still kept when the pump stops, is logged as
    matching no delivery. The stored row is what the SMSC's answer waited
    for: a pump that starts takes over the provider ids of the unmatched
    receipts of the last ``receipt_wait`` seconds, so those a worker that
    died was still offering are offered again (a confirmation's among them,
    until its time is up).

    A confirmation has no delivery row, so its receipts match none, by
    design: the pump knows the provider ids ``send_reply`` returned for an
    hour, and a receipt naming one is stored, neither kept nor logged.
    """

    def __init__(self, channel: SmsChannel, session_factory: sessionmaker[Session],
                 districts: DistrictNames, *, interval: float = PUMP_INTERVAL_SECONDS,
                 reply_attempts: int = REPLY_ATTEMPTS,
                 reply_retry: float = REPLY_RETRY_SECONDS,
                 receipt_wait: float = RECEIPT_WAIT_SECONDS,
                 rematch_interval: float = REMATCH_SECONDS,
                 receipts_per_transaction: int = RECEIPTS_PER_TRANSACTION,
                 bind_report_interval: float = REPORT_SECONDS) -> None:
        self.channel = channel
        self._bind_states = BindStateReporter(channel.routes, session_factory,
                                              interval=bind_report_interval)
        self._sessions = session_factory
        self._districts = districts
        self._interval = interval
        self._reply_attempts = reply_attempts
        self._reply_retry = reply_retry
        self._receipt_wait = receipt_wait
        self._unmatched = WaitingIds[str](receipt_wait, RECEIPT_WAIT_LIMIT)
        self._confirmations = WaitingIds[str](CONFIRMATION_RECEIPT_SECONDS, RECEIPT_WAIT_LIMIT)
        self._rematch_interval = rematch_interval
        self._receipts_per_transaction = receipts_per_transaction
        self._rematch_due = 0.0
        self._receipts: list[InboundMessage] = []
        self._late = LateAnswers(log)
        self._mobile_originated: list[InboundMessage] = []
        self._replies: list[PendingReply] = []
        self._pause = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Take over the receipts waiting for a match, open the binds, then pump."""
        try:
            self._unmatched.keep(unmatched_since(self._sessions, self.channel,
                                                 self._receipt_wait, RECEIPT_WAIT_LIMIT),
                                 time.monotonic())
        except SQLAlchemyError as error:
            # Those receipts stay stored; only their late match is missed.
            log.warning("sms receipts waiting for a match not taken over", extra={
                "reason": str(error).splitlines()[0]})
        self.channel.start()
        self._thread = threading.Thread(target=self._run, name="sms-inbound", daemon=True)
        self._thread.start()
        log.info("sms inbound pump started", extra={"interval": self._interval})

    def stop(self, timeout: float = 30.0) -> None:
        """Stop pumping, drain what is left, close the binds, then record what came meanwhile."""
        self._stopping.set()
        self.channel.arrived.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.drain(final=True)
        self.channel.close()
        self.drain(final=True, binds_open=False)
        self._give_up(self._unmatched.expired(math.inf), "the worker is stopping")
        try:
            self._bind_states.forget()
        except SQLAlchemyError as error:
            log.warning("sms bind states not removed; they age out of /health", extra={
                "reason": str(error).splitlines()[0]})
        log.info("sms inbound pump stopped")

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wait()
            if self._stopping.is_set():
                return
            try:
                self.drain()
            except Exception:  # the pump must outlive any one bad round; it is logged
                self._pause = min(max(self._pause * 2, 1.0), MAX_PAUSE_SECONDS)
                log.exception("sms inbound round failed", extra={"retry_in": self._pause})
            try:
                self._bind_states.report_when_due(time.monotonic())
            except SQLAlchemyError as error:
                log.warning("sms bind states not reported", extra={
                    "reason": str(error).splitlines()[0]})

    def _wait(self) -> None:
        """Until something arrives, or the idle interval is over; after a failure, the pause."""
        if self._pause > self._interval:
            self._stopping.wait(self._pause)
            return
        # Whatever arrives while the round runs sets it again: the next round
        # follows at once and takes all that came meanwhile.
        self.channel.arrived.wait(self._interval)
        self.channel.arrived.clear()

    def drain(self, *, final: bool = False, binds_open: bool = True) -> None:
        """One round: record receipts, apply texts, send the confirmations that are due.

        ``final``: the last round while the binds are open, every confirmation
        is tried once more; without ``binds_open`` none is.
        """
        try:
            recorded = self._record_receipts()
            self._rematch(time.monotonic(), final=final)
            record_failovers(self._sessions, self.channel.failovers)
            self._mobile_originated += _taken(self.channel.mobile_originated)
            while self._mobile_originated:
                message = self._mobile_originated[0]
                self._apply_or_drop(message)
                del self._mobile_originated[0]
                self.channel.acknowledge([message.acknowledgement])
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

    def _record_receipts(self) -> int:
        """Record the receipts queued when the round began, ``receipts_per_transaction`` at a time.

        Keeps the provider ids of those that matched nothing; returns how many were recorded.
        """
        per_transaction = self._receipts_per_transaction
        waiting = len(self._receipts) + self.channel.receipts.qsize()
        recorded = 0
        for _ in range(math.ceil(waiting / per_transaction)):
            self._receipts += _taken(self.channel.receipts, per_transaction - len(self._receipts))
            unmatched = record_receipts(self._sessions, self.channel, self._receipts)
            self._late.answered(self._receipts, self.channel.copies.copies_taken(),
                                time.monotonic())
            recorded += len(self._receipts)
            self._receipts = []
            self._give_up(self._unmatched.keep(
                [provider_id for provider_id in unmatched
                 if provider_id not in self._confirmations], time.monotonic()),
                "too many receipts waiting", level=logging.WARNING)
        return recorded

    def _rematch(self, now: float, *, final: bool) -> None:
        """Offer the receipts that matched nothing again when due; give up those too old."""
        if self._unmatched and (final or now >= self._rematch_due):
            self._rematch_due = now + self._rematch_interval
            with self._sessions() as session:
                matched = rematch_receipts(session, self.channel, list(self._unmatched))
                session.commit()
            self._unmatched.discard(matched)
            if matched:
                log.debug("sms receipts matched their deliveries on a later round",
                          extra={"receipts": len(matched)})
        self._give_up(self._unmatched.expired(now), "no hand-over named them in time")

    @staticmethod
    def _give_up(provider_ids: Sequence[str], why: str, *, level: int = logging.INFO) -> None:
        if provider_ids:
            log.log(level, "sms receipts match no delivery", extra={
                "receipts": len(provider_ids), "provider_ids": list(provider_ids[:_SHOWN_IDS]),
                "why": why})

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
            self._confirmations.keep(identifiers, now)
            log.info("sms confirmation sent", extra={**context, "parts": len(identifiers)})
