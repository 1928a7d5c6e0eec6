"""The SMS channel: alerts as text messages through SMPP 3.4 transceiver binds.

Each target gets the alert rendered in its language (``render_sms``),
encoded into one or more parts that share one concatenation reference, and
submitted through one bind (all parts of a message on the same bind, so
they leave in order). ``send`` waits, bounded by ``response_timeout``, until
the SMSC has answered every part, and reports each delivery:

- SENT, with the provider id, when every part was accepted;
- FAILED when a part was refused for good, or when the message went out
  only partly (a handset cannot show half an alert);
- QUEUED (retry later) when every part was refused for a transient reason;
- SENT without a provider id, with the reason, when a part is still
  unanswered at the deadline: the bind keeps trying it, so resending the
  delivery could duplicate it, and its receipts cannot be matched.

The provider id of a delivery is the canonical SMSC id (see
``sms_receipts.normalise_message_id``) of its FIRST part. The receipt
service matches a receipt to a delivery by exact provider id, so the
delivery follows its first part's receipt: a known simplification, since a
concatenated SMS reaches the handset as one message and the SMSC routes its
parts together. Receipts of the other parts are dropped by
``drain_receipts`` when this channel instance submitted them; a receipt for
a later part submitted by another process is stored with outcome unknown.

Receipts arrive on the binds' threads; they only enqueue there.
``drain_receipts`` records the queued ones through the receipt service, from
whatever thread owns a database session. Mobile-originated messages are put
on ``mobile_originated`` for the subscriber service.

Options (``channel_options["sms"]``): ``host``, ``port``, ``system_id``,
``password``, ``source_addr``, ``window`` (10), ``rate`` (parts per second
per bind, 100), ``binds`` (1), ``response_timeout`` (seconds, 10),
``bind_timeout`` (seconds a send waits for a bind to come up, 5), and
``message_id_base`` ("auto", 10 or 16): how the SMSC writes its ids, to
read an id without letters unambiguously.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy.orm import Session, sessionmaker

from publisher.channels import sms_receipts
from publisher.channels.base import (
    Channel,
    DeliveryStatus,
    OutgoingMessage,
    ParsedReceipt,
    PermanentChannelError,
    ReceiptError,
    SendResult,
    TargetRef,
    TransientChannelError,
)
from publisher.channels.smpp_bind import (
    Bind,
    BindError,
    BindSettings,
    BindState,
    InboundMessage,
    SubmitPart,
)
from publisher.channels.sms_encoding import ReferenceAllocator, SmsEncodingError, encode_sms
from publisher.channels.sms_text import render_sms
from publisher.services.receipts import record_receipt
from publisher.store.models import ReceiptOutcome

__all__ = ["SmsChannel", "drain_receipts", "receipt_fields"]

log = logging.getLogger(__name__)

_ID_BASES: dict[object, sms_receipts.IdBase] = {"auto": "auto", 10: 10, 16: 16,
                                                "10": 10, "16": 16}
# Continuation-part ids remembered for dropping their receipts; bounded so a
# long-running worker does not grow without limit.
_CONTINUATIONS_KEPT = 100_000


@dataclass(frozen=True, slots=True)
class _PartKey:
    send: int
    delivery_id: int
    sequence: int


@dataclass(slots=True)
class _PartOutcome:
    message_id: str | None = None
    command_status: int | None = None
    permanent: bool = False
    resubmitted: bool = False

    @property
    def answered(self) -> bool:
        return self.message_id is not None or self.command_status is not None


def receipt_fields(message: InboundMessage) -> dict[str, Any]:
    """The raw receipt as stored and parsed: the deliver_sm's fields, its octets in hex."""
    return {"receipted_message_id": message.receipted_message_id,
            "message_state": message.message_state,
            "short_message": message.short_message.hex(),
            "esm_class": message.esm_class, "data_coding": message.data_coding,
            "source_addr": message.source_addr, "bind": message.bind}


class _Events:
    """The binds' callbacks: record what happened and wake the waiting ``send``."""

    def __init__(self, channel: SmsChannel) -> None:
        self._channel = channel

    def accepted(self, key: Hashable, message_id: str) -> None:
        self._channel._answer(key, lambda outcome: setattr(outcome, "message_id", message_id))

    def rejected(self, key: Hashable, command_status: int, permanent: bool) -> None:
        def refuse(outcome: _PartOutcome) -> None:
            outcome.command_status = command_status
            outcome.permanent = permanent
        self._channel._answer(key, refuse)

    def resubmitted(self, key: Hashable) -> None:
        self._channel._answer(key, lambda outcome: setattr(outcome, "resubmitted", True))

    def received(self, message: InboundMessage) -> None:
        target = (self._channel.receipts if message.is_receipt
                  else self._channel.mobile_originated)
        target.put(message)


class SmsChannel(Channel[str]):
    name = "sms"
    batch_size = 1000
    # The SMSC does not deduplicate by our delivery id, and a bind is a
    # dedicated connection: no inline hand-over, no blind resend.
    idempotent_by_delivery_id = False
    inline_first_batch = False

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self.source_addr = str(self.options.get("source_addr", ""))
        self.response_timeout = float(self.options.get("response_timeout", 10.0))
        self.bind_timeout = float(self.options.get("bind_timeout", 5.0))
        base = self.options.get("message_id_base", "auto")
        if base not in _ID_BASES:
            raise ValueError(f"message_id_base: {base!r} is not one of auto, 10, 16")
        self.message_id_base = _ID_BASES[base]
        self.receipts: queue.SimpleQueue[InboundMessage] = queue.SimpleQueue()
        self.mobile_originated: queue.SimpleQueue[InboundMessage] = queue.SimpleQueue()
        self._references = ReferenceAllocator()
        self._answered = threading.Condition()
        self._outcomes: dict[_PartKey, _PartOutcome] = {}
        self._continuations: dict[str, None] = {}
        self._sends = 0
        self._binds: list[Bind] = []
        self._binds_lock = threading.Lock()

    def _settings(self, index: int) -> BindSettings:
        try:
            return BindSettings(
                host=str(self.options["host"]), port=int(self.options["port"]),
                system_id=str(self.options["system_id"]),
                password=str(self.options.get("password", "")),
                name=f"sms-{index}", window=int(self.options.get("window", 10)),
                rate=float(self.options.get("rate", 100.0)),
                response_timeout=self.response_timeout)
        except KeyError as missing:
            raise PermanentChannelError(
                f"channel_options.sms.{missing.args[0]}: required") from None
        except BindError as error:
            raise PermanentChannelError(f"channel_options.sms.{error.field}: {error.reason}"
                                        ) from None

    def start(self) -> list[Bind]:
        """Open the binds (once); receipts start arriving on ``receipts``."""
        with self._binds_lock:
            if not self._binds:
                count = int(self.options.get("binds", 1))
                binds = [Bind(self._settings(index), _Events(self)) for index in range(count)]
                for bind in binds:
                    bind.start()
                self._binds = binds
            return self._binds

    def _bound(self) -> list[Bind]:
        binds = self.start()
        deadline = time.monotonic() + self.bind_timeout
        while True:
            bound = [bind for bind in binds if bind.state is BindState.BOUND]
            if bound:
                return bound
            if time.monotonic() >= deadline:
                states = ", ".join(bind.state.value for bind in binds)
                raise TransientChannelError(f"no SMPP bind is up ({states})")
            time.sleep(0.02)

    def render(self, message: OutgoingMessage, language: str) -> str:
        return render_sms(message.alert, message.msg_type, language)

    def _answer(self, key: Hashable, change: Callable[[_PartOutcome], None]) -> None:
        with self._answered:
            outcome = self._outcomes.get(cast(_PartKey, key))
            if outcome is not None:
                change(outcome)
                self._answered.notify_all()

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        binds = self._bound()
        with self._answered:
            self._sends += 1
            send = self._sends
        failed: list[SendResult] = []
        submitted: dict[int, list[_PartKey]] = {}
        by_bind: dict[int, list[SubmitPart]] = {}
        for index, target in enumerate(targets):
            try:
                encoded = encode_sms(self.render(message, target.language),
                                     self._references.allocate())
            except SmsEncodingError as error:
                failed.append(SendResult(target.delivery_id, None, DeliveryStatus.FAILED,
                                         f"{error.field}: {error.reason}"))
                continue
            keys = [_PartKey(send, target.delivery_id, sequence)
                    for sequence in range(1, encoded.part_count + 1)]
            submitted[target.delivery_id] = keys
            by_bind.setdefault(index % len(binds), []).extend(
                SubmitPart(key, _international(target.address), octets, encoded.data_coding,
                           encoded.esm_class, self.source_addr)
                for key, octets in zip(keys, encoded.parts, strict=True))
        with self._answered:
            self._outcomes.update({key: _PartOutcome() for keys in submitted.values()
                                   for key in keys})
        try:
            for bind_index, parts in by_bind.items():
                binds[bind_index].submit(parts)
            outcomes = self._wait(submitted)
        finally:
            with self._answered:
                for keys in submitted.values():
                    for key in keys:
                        self._outcomes.pop(key, None)
        log.info("sms batch submitted", extra={"alert_identifier": message.identifier,
                                               "deliveries": len(submitted)})
        return failed + [self._result(delivery_id, outcomes[delivery_id])
                         for delivery_id in submitted]

    def _wait(self, submitted: Mapping[int, list[_PartKey]]
              ) -> dict[int, list[_PartOutcome]]:
        deadline = time.monotonic() + self.response_timeout
        with self._answered:
            self._answered.wait_for(
                lambda: all(self._outcomes[key].answered
                            for keys in submitted.values() for key in keys),
                timeout=max(0.0, deadline - time.monotonic()))
            return {delivery_id: [replace(self._outcomes[key]) for key in keys]
                    for delivery_id, keys in submitted.items()}

    def _result(self, delivery_id: int, parts: list[_PartOutcome]) -> SendResult:
        refused = [(number, part) for number, part in enumerate(parts, start=1)
                   if part.command_status is not None]
        if refused:
            number, part = refused[0]
            reason = (f"part {number} of {len(parts)} refused by the SMSC:"
                      f" command_status 0x{part.command_status:08X}")
            if len(refused) == len(parts) and not any(item.permanent for _, item in refused):
                return SendResult(delivery_id, None, DeliveryStatus.QUEUED, reason)
            if len(refused) < len(parts):
                reason += "; the other parts went out, so the message is incomplete"
            return SendResult(delivery_id, None, DeliveryStatus.FAILED, reason)
        unanswered = [number for number, part in enumerate(parts, start=1) if not part.answered]
        if unanswered:
            return SendResult(delivery_id, None, DeliveryStatus.SENT,
                              f"parts {unanswered} unanswered after {self.response_timeout}s;"
                              " the bind keeps submitting them, so receipts cannot be matched")
        identifiers = [self._canonical(part.message_id or "") for part in parts]
        self._remember_continuations(identifiers[1:])
        note = ("a part was submitted again after a lost response; the handset may show it"
                " twice") if any(part.resubmitted for part in parts) else None
        return SendResult(delivery_id, identifiers[0], DeliveryStatus.SENT, note)

    def _canonical(self, message_id: str) -> str:
        return sms_receipts.normalise_message_id(message_id, self.message_id_base)

    def _remember_continuations(self, identifiers: list[str]) -> None:
        with self._answered:
            self._continuations.update(dict.fromkeys(identifiers))
            while len(self._continuations) > _CONTINUATIONS_KEPT:
                del self._continuations[next(iter(self._continuations))]

    def is_continuation(self, provider_id: str) -> bool:
        """Whether ``provider_id`` is a later part of a message this instance submitted."""
        with self._answered:
            return provider_id in self._continuations

    def parse_receipt(self, raw: Mapping[str, Any]) -> ParsedReceipt:
        """A receipt as ``receipt_fields`` writes it; the provider id is its part's canonical id."""
        try:
            octets = bytes.fromhex(str(raw.get("short_message", "")))
        except ValueError:
            raise ReceiptError("short_message", "is not hexadecimal") from None
        state = raw.get("message_state")
        receipt = sms_receipts.parse_receipt(
            esm_class=_integer(raw, "esm_class"), short_message=octets,
            data_coding=_integer(raw, "data_coding", 0),
            receipted_message_id=raw.get("receipted_message_id"),
            message_state=None if state is None else _integer(raw, "message_state"))
        detail = f"stat:{receipt.state} err:{receipt.error_code or '-'}"
        return ParsedReceipt(self._canonical(receipt.raw_message_id), receipt.delivery_status,
                             detail)

    def close(self) -> None:
        with self._binds_lock:
            binds, self._binds = self._binds, []
        for bind in binds:
            bind.stop()


def _international(address: str) -> str:
    # Targets hold E.164 with its "+"; SMPP marks that by the international TON instead.
    return address.removeprefix("+")


def _integer(raw: Mapping[str, Any], field: str, default: int | None = None) -> int:
    value = raw.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReceiptError(field, f"{value!r} is not an integer")
    return value


def drain_receipts(channel: SmsChannel, session_factory: sessionmaker[Session]) -> int:
    """Record every receipt queued so far, in one transaction; returns how many were recorded."""
    recorded = 0
    with session_factory() as session:
        while True:
            try:
                message = channel.receipts.get_nowait()
            except queue.Empty:
                break
            raw = receipt_fields(message)
            if _continuation(channel, raw):
                continue
            outcome = record_receipt(session, channel, raw)
            recorded += 1
            if outcome is ReceiptOutcome.UNKNOWN:
                log.info("sms receipt matches no delivery",
                         extra={"receipted_message_id": message.receipted_message_id})
        session.commit()
    return recorded


def _continuation(channel: SmsChannel, raw: Mapping[str, Any]) -> bool:
    try:
        return channel.is_continuation(channel.parse_receipt(raw).provider_id)
    except ReceiptError:
        return False
