"""The SMS channel: alerts as text messages through SMPP 3.4 transceiver binds.

Each target gets the alert rendered in its language (``render_sms``),
encoded into one or more parts that share one concatenation reference (or
into one ``submit_sm`` with ``message_payload``, as the route says), and
submitted through one bind of the route in use (all parts of a message on
the same bind, so they leave in order; see ``sms_routes`` for routes,
priorities and failover). ``send`` waits, bounded by the route's
``response_timeout``, until the SMSC has answered every part, and reports
each delivery:

- SENT, with the provider id of every part, when every part was accepted;
- FAILED when a part was refused for good, or when the message went out
  only partly (a handset cannot show half an alert);
- QUEUED (retry later) when every part was refused for a transient reason;
- SENT without provider ids, with the reason, when a part is still
  unanswered at the deadline: the bind keeps trying it, so resending the
  delivery could duplicate it, and its receipts cannot be matched.

A part submitted again after its response was lost (the bind dropped, or
the response timed out) may reach the handset twice; the result counts such
parts in ``duplicates``.

Every part's provider id (``sms_routes.provider_id``: the route's name and
the SMSC's canonical id, see ``sms_receipts.normalise_message_id``) is
stored with its delivery, and the receipt service correlates each part's
receipt in the database: a receipt arriving days later, on any bind, to
another process, still lands on its part, and the delivery follows its
parts.

Receipts arrive on the binds' threads; they only enqueue there, on
``receipts``, to be recorded through the receipt service from whatever
thread owns a database session. Mobile-originated messages are put on
``mobile_originated`` for the subscriber service, whose confirmations go
out through ``send_reply``. ``arrived`` is set whenever one is enqueued. The
SMSC gets its answer only once the one who took the message has committed
it and passes its ``acknowledgement`` to ``acknowledge``. What the SMSC
sends again meanwhile is not enqueued twice (``sms_inbound_copies``).

A route may also be a Twilio-compatible REST API (``sms_twilio``): the
same rendered text goes there whole, the provider segments it, and its
status callbacks are this channel's receipts too (``parse_receipt``). A
batch sent over a route because those before it were down notes the
failover on each delivery and for the audit log (``sms_failover``).
An SMPP route is handed a batch as fast as its binds send it (``_feed``):
when its binds go down (or its SMSC stops answering) in the middle of a
batch, the texts not handed to a bind yet go over the next route that is
up (``_send_over``), those handed stay with their bind.

Options (``channel_options["sms"]``): the routes (see ``sms_routes``),
``bind_timeout`` (seconds a send waits for a bind to come up, 5) and
``signature`` (the sender's signature that starts every Chinese SMS,
``sms_text.DEFAULT_SIGNATURE``).
"""

from __future__ import annotations

import itertools
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

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
    Acknowledgement,
    Bind,
    BindState,
    InboundMessage,
    SubmitPart,
)
from publisher.channels.sms_encoding import (
    EncodedSms,
    ReferenceAllocator,
    SmsEncodingError,
    encode_sms,
)
from publisher.channels.sms_failover import FailoverLog
from publisher.channels.sms_inbound_copies import Copy, InboundCopies
from publisher.channels.sms_routes import (
    Choice,
    Route,
    Routes,
    RouteSettings,
    provider_id,
    read_routes,
)
from publisher.channels.sms_text import DEFAULT_SIGNATURE, render_sms
from publisher.channels.sms_twilio import RestRoute, parse_status_callback
from publisher.channels.twilio_client import RestMessage

__all__ = ["SmsChannel"]

log = logging.getLogger(__name__)

# The item of a reply in a submission: replies have no delivery row.
_REPLY = 0
_NO_ROUTE = ("no route carries this number: every route is limited to other prefixes"
             " or districts")
# Seconds of sending a send keeps ahead of each bind.
_AHEAD_SECONDS = 0.5
# How often a send waiting to hand more looks whether its route's binds are still up.
_BIND_CHECK_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class _PartKey:
    send: int
    item: int
    sequence: int


@dataclass(slots=True)
class _PartOutcome:
    message_id: str | None = None
    command_status: int | None = None
    permanent: bool = False
    resubmissions: int = 0

    @property
    def answered(self) -> bool:
        return self.message_id is not None or self.command_status is not None


@dataclass(slots=True)
class _Feeding:
    """One send's texts on their way to a route's binds (``SmsChannel._feed``)."""

    send: int
    route: Route
    binds: list[Bind]
    # The parts of each text handed to a bind, by its item.
    submitted: dict[int, list[_PartKey]] = field(default_factory=dict)
    # Parts handed to each bind (by its index), to take off its load at the end.
    queued: dict[int, int] = field(default_factory=dict)
    deadline: float = 0.0
    # The SMSC answered nothing for longer than a response may take, its binds bound.
    stalled: bool = False
    failed: list[SendResult] = field(default_factory=list)
    left_texts: list[_Text] = field(default_factory=list)
    left: list[TargetRef] = field(default_factory=list)


def _ahead(route: RouteSettings, binds: int) -> int:
    """Parts a send keeps handed to a route's binds and unanswered: half a second of sending
    (a window at least) for each, so little waits on a bind when the route goes down."""
    return binds * max(route.window, math.ceil(route.rate * _AHEAD_SECONDS))


@dataclass(frozen=True, slots=True)
class _Text:
    """One SMS to hand over: a delivery's (``item`` its id) or a reply (``_REPLY``)."""

    item: int
    address: str
    encoded: EncodedSms


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
        def count(outcome: _PartOutcome) -> None:
            outcome.resubmissions += 1
        self._channel._answer(key, count)

    def repeated(self, key: int, acknowledgement: Acknowledgement) -> bool:
        kind = self._channel.copies.take(key, acknowledgement, time.monotonic())
        if kind is Copy.OF_STORED:
            self._channel.acknowledge([acknowledgement])
        return kind is not Copy.FIRST

    def received(self, message: InboundMessage) -> None:
        target = (self._channel.receipts if message.is_receipt
                  else self._channel.mobile_originated)
        target.put(message)
        self._channel.arrived.set()

    def refused(self, key: int) -> None:
        self._channel.copies.refused(key)


class SmsChannel(Channel[str]):
    name = "sms"
    batch_size = 1000
    # The SMSC does not deduplicate by our delivery id, and a bind is a
    # dedicated connection: no inline hand-over, no blind resend.
    idempotent_by_delivery_id = False
    inline_first_batch = False

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self.bind_timeout = float(self.options.get("bind_timeout", 5.0))
        self.signature = str(self.options.get("signature", DEFAULT_SIGNATURE))
        self.receipts: queue.SimpleQueue[InboundMessage] = queue.SimpleQueue()
        self.mobile_originated: queue.SimpleQueue[InboundMessage] = queue.SimpleQueue()
        self.arrived = threading.Event()
        self.copies = InboundCopies()
        self._binds: dict[str, Bind] = {}
        self.routes = Routes(read_routes(self.options), _Events(self))
        self.failovers = FailoverLog()
        self._references = ReferenceAllocator()
        self._answered = threading.Condition()
        self._outcomes: dict[_PartKey, _PartOutcome] = {}
        # Parts of each send (by its number) handed over and waiting for the
        # SMSC's answer, and how few of them wake the send.
        self._unanswered: dict[int, int] = {}
        self._low_water: dict[int, int] = {}
        # Parts handed to each bind (by its id) by sends that still wait.
        self._queued: dict[int, int] = {}
        self._sends = itertools.count(1)

    def start(self) -> list[Bind]:
        """Open every route's binds (once); receipts start arriving on ``receipts``."""
        binds = [bind for route in self.routes.start() if isinstance(route, Route)
                 for bind in route.binds]
        self._binds = {bind.settings.name: bind for bind in binds}
        return binds

    def acknowledge(self, acknowledgements: Iterable[Acknowledgement]) -> None:
        """Answer the SMSC for these inbound messages, committed now, each on its own bind.

        The copies the SMSC sent of them meanwhile are answered too (``copies``).
        """
        by_bind: dict[str, list[Acknowledgement]] = {}
        for acknowledgement in self.copies.answered(acknowledgements):
            by_bind.setdefault(acknowledgement.bind, []).append(acknowledgement)
        for name, answered in by_bind.items():
            bind = self._binds.get(name)
            if bind is not None:
                bind.acknowledge(answered)

    def render(self, message: OutgoingMessage, language: str) -> str:
        return render_sms(message.alert, message.msg_type, language, signature=self.signature)

    def _answer(self, key: Hashable, change: Callable[[_PartOutcome], None]) -> None:
        part = cast(_PartKey, key)
        with self._answered:
            outcome = self._outcomes.get(part)
            if outcome is None:
                return
            was_answered = outcome.answered
            change(outcome)
            if outcome.answered and not was_answered:
                # The sender waits for its low water (to hand more) or its last
                # answer, not each one: with a thousand parts, waking it for
                # each would cost it more than the parts themselves.
                self._unanswered[part.send] -= 1
                if self._unanswered[part.send] <= self._low_water[part.send]:
                    self._answered.notify_all()

    @property
    def reads_target_districts(self) -> bool:
        return self.routes.by_district

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        assigned, unroutable = self.routes.assign(targets, self.bind_timeout)
        results = [SendResult(target.delivery_id, None, DeliveryStatus.FAILED, _NO_ROUTE)
                   for target in unroutable]
        for choice, group in assigned:
            results += self._send_over(message, choice, group, 2 * len(choice.candidates))
        return results

    def _send_over(self, message: OutgoingMessage, choice: Choice, targets: Sequence[TargetRef],
                   moves: int) -> list[SendResult]:
        """The targets over the chosen route; what of them it never took goes over the next.

        An SMPP route is fed as fast as its binds send: when every one of its
        binds goes down, the targets not yet handed to a bind move to the
        next route that is up (``moves`` times at most, for routes that
        flap), while those already handed stay with their bind, which may
        have put them on the wire.
        """
        if isinstance(choice.route, RestRoute):
            return self.failovers.noted(
                message, choice, choice.route.send(self._rest_texts(message, targets)))
        feeding = self._feed_smpp(message, choice.route, choice.binds, targets)
        try:
            moved = (self._move(message, choice, feeding.left, moves, stalled=feeding.stalled)
                     if feeding.left else [])
        finally:
            sent = self._collect(feeding)
        return self.failovers.noted(message, choice, sent) + moved

    def _move(self, message: OutgoingMessage, choice: Choice, targets: Sequence[TargetRef],
              moves: int, *, stalled: bool) -> list[SendResult]:
        """Targets the chosen route never took, over the route up now; QUEUED when none is."""
        went = "stopped answering" if stalled else "went down"
        reason = f"route {choice.route.name} {went} before it took this"
        try:
            if moves <= 0:
                raise TransientChannelError(f"{reason}, and so did every route since")
            following = self.routes.choose(
                self.bind_timeout, choice.candidates,
                not_answering=(choice.route.name,) if stalled else ())
        except TransientChannelError as error:
            return [SendResult(target.delivery_id, None, DeliveryStatus.QUEUED,
                               f"{reason}; {error.reason}") for target in targets]
        log.warning("sms batch moved", extra={"alert_identifier": message.identifier,
                                              "route": choice.route.name,
                                              "to_route": following.route.name,
                                              "deliveries": len(targets)})
        return self._send_over(message, following, targets, moves - 1)

    def _rest_texts(self, message: OutgoingMessage, targets: Sequence[TargetRef]
                    ) -> list[RestMessage]:
        texts: dict[str, str] = {}
        for target in targets:
            if target.language not in texts:
                texts[target.language] = self.render(message, target.language)
        return [RestMessage(target.delivery_id, target.address, texts[target.language])
                for target in targets]

    def _feed_smpp(self, message: OutgoingMessage, route: Route, binds: Sequence[Bind],
                   targets: Sequence[TargetRef]) -> _Feeding:
        failed: list[SendResult] = []
        texts: list[_Text] = []
        # A batch has a handful of languages and up to a thousand targets: each
        # language is rendered and encoded once, and each target gets its copy
        # under a reference of its own.
        encoded: dict[str, EncodedSms | SmsEncodingError] = {}
        for target in targets:
            if target.language not in encoded:
                try:
                    encoded[target.language] = self._encode(
                        self.render(message, target.language), route.settings)
                except SmsEncodingError as error:
                    encoded[target.language] = error
            text = encoded[target.language]
            if isinstance(text, SmsEncodingError):
                failed.append(SendResult(target.delivery_id, None, DeliveryStatus.FAILED,
                                         f"{text.field}: {text.reason}"))
                continue
            texts.append(_Text(target.delivery_id, target.address,
                               text.with_reference(self._references.allocate())))
        feeding = self._feed(route, binds, texts)
        feeding.failed = failed
        by_id = {target.delivery_id: target for target in targets}
        feeding.left = [by_id[text.item] for text in feeding.left_texts]
        log.info("sms batch submitted", extra={"alert_identifier": message.identifier,
                                               "route": route.name,
                                               "deliveries": len(feeding.submitted)})
        return feeding

    def send_reply(self, address: str, text: str, language: str) -> list[str]:
        """Send ``text`` to one E.164 ``address`` now; the provider ids of its parts.

        For a confirmation of a subscriber's command: no delivery row, and the
        signature starts it in Chinese as it starts every alert. Raises
        TransientChannelError when it may go out later (no bind is up, the
        SMSC refused it for now, or has not answered in time, in which case
        the bind still tries it and sending it again may duplicate it), and
        PermanentChannelError when it never will.
        """
        choice = self.routes.choose(self.bind_timeout)
        if isinstance(choice.route, RestRoute):
            return choice.route.send_reply(address, self.signed(text, language))
        route, binds = choice.route, choice.binds
        try:
            encoded = self._encode(self.signed(text, language), route.settings)
        except SmsEncodingError as error:
            raise PermanentChannelError(f"{error.field}: {error.reason}") from None
        feeding = self._feed(route, binds, [_Text(_REPLY, address, encoded)])
        [result] = self._collect(feeding) or [
            SendResult(_REPLY, None, DeliveryStatus.QUEUED, "every bind went down")]
        # No number in the reason: it ends up in logs.
        reason = f"reply over route {route.name}: {result.error}"
        if result.status is DeliveryStatus.FAILED:
            raise PermanentChannelError(reason)
        if result.status is not DeliveryStatus.SENT or not result.parts:
            raise TransientChannelError(reason)
        return list(result.parts)

    def signed(self, text: str, language: str) -> str:
        """``text`` with the sender's signature first when it is Chinese, as every alert has."""
        if language.split("-", 1)[0].casefold() != "zh" or text.startswith(self.signature):
            return text
        return f"{self.signature}{text}"

    def _encode(self, text: str, route: RouteSettings) -> EncodedSms:
        return encode_sms(text, self._references.allocate(),
                          use_message_payload=route.message_payload)

    def _feed(self, route: Route, binds: Sequence[Bind], texts: Iterable[_Text]) -> _Feeding:
        """Hand the texts to the route's bound binds, each text whole to one, as they send them.

        The binds get about half a second of sending ahead of them (``_ahead``),
        more as the SMSC answers. When every bind of the route goes down, or
        the SMSC answers none of what it has for longer than a response may
        take (``stalled``), the texts not handed yet are ``left_texts``, free
        to go over another route. ``_collect`` waits for the answers to what
        was handed.
        """
        feeding = _Feeding(next(self._sends), route, list(binds))
        waiting = deque(texts)
        limit = _ahead(route.settings, len(binds))
        patience = route.settings.response_timeout + limit / route.settings.rate
        with self._answered:
            self._unanswered[feeding.send] = 0
            self._low_water[feeding.send] = limit // 2
        try:
            answered_at, unanswered = time.monotonic(), 0
            while waiting:
                live = [index for index, bind in enumerate(binds)
                        if bind.state is BindState.BOUND]
                if not live:
                    break
                with self._answered:
                    room = limit - self._unanswered[feeding.send]
                if room > 0:
                    self._hand(feeding, live, waiting, room)
                    continue
                with self._answered:
                    self._answered.wait_for(
                        lambda: self._unanswered[feeding.send] <= limit // 2,
                        timeout=_BIND_CHECK_SECONDS)
                    if self._unanswered[feeding.send] != unanswered:
                        answered_at, unanswered = time.monotonic(), self._unanswered[feeding.send]
                if time.monotonic() - answered_at > patience:
                    feeding.stalled = True
                    break
        except BaseException:
            self._release(feeding)
            raise
        feeding.left_texts = list(waiting)
        return feeding

    def _hand(self, feeding: _Feeding, live: Sequence[int], waiting: deque[_Text],
              room: int) -> None:
        """Hand texts to the live binds until ``room`` parts are handed (or none waits)."""
        settings = feeding.route.settings
        by_bind: dict[int, list[SubmitPart]] = {}
        # Each text goes whole to the bind with the fewest parts to send, those
        # queued by other sends included: binds given texts in turn would get
        # every long (Chinese) text on one of them when they come evenly spaced,
        # and the others would idle while it finishes.
        with self._answered:
            loads = {index: self._queued.get(id(feeding.binds[index]), 0) for index in live}
        handed: list[_PartKey] = []
        while waiting and room > 0:
            text = waiting.popleft()
            encoded = text.encoded
            keys = [_PartKey(feeding.send, text.item, sequence)
                    for sequence in range(1, encoded.part_count + 1)]
            feeding.submitted[text.item] = keys
            handed += keys
            room -= len(keys)
            lightest = min(loads, key=loads.__getitem__)
            loads[lightest] += encoded.part_count
            by_bind.setdefault(lightest, []).extend(
                SubmitPart(key, _international(text.address), octets, encoded.data_coding,
                           encoded.esm_class, settings.source_addr,
                           source_addr_ton=settings.source_addr_ton,
                           source_addr_npi=settings.source_addr_npi,
                           use_message_payload=encoded.uses_message_payload)
                for key, octets in zip(keys, encoded.parts, strict=True))
        with self._answered:
            self._outcomes.update({key: _PartOutcome() for key in handed})
            self._unanswered[feeding.send] += len(handed)
            # Sends of other tasks of this process may have parts queued on the
            # same binds: the bind paces those first, and the wait allows for them.
            ahead = 0
            for index, parts in by_bind.items():
                bind = id(feeding.binds[index])
                self._queued[bind] = self._queued.get(bind, 0) + len(parts)
                feeding.queued[index] = feeding.queued.get(index, 0) + len(parts)
                ahead = max(ahead, self._queued[bind])
        feeding.deadline = max(feeding.deadline, time.monotonic() + settings.response_timeout
                               + ahead / settings.rate)
        for index, parts in by_bind.items():
            feeding.binds[index].submit(parts)

    def _release(self, feeding: _Feeding) -> None:
        """Forget the send: its parts' answers, its count, and its load on each bind."""
        with self._answered:
            del self._unanswered[feeding.send]
            del self._low_water[feeding.send]
            for index, parts in feeding.queued.items():
                self._queued[id(feeding.binds[index])] -= parts
            for keys in feeding.submitted.values():
                for key in keys:
                    self._outcomes.pop(key, None)

    def _collect(self, feeding: _Feeding) -> list[SendResult]:
        """Wait for the SMSC's answers to what ``_feed`` handed; a result for each text handed."""
        send = feeding.send
        try:
            with self._answered:
                self._low_water[send] = 0
                self._answered.wait_for(lambda: not self._unanswered[send],
                                        timeout=max(0.0, feeding.deadline - time.monotonic()))
                outcomes = {item: [replace(self._outcomes[key]) for key in keys]
                            for item, keys in feeding.submitted.items()}
        finally:
            self._release(feeding)
        settings = feeding.route.settings
        return feeding.failed + [self._result(settings, item, parts)
                                 for item, parts in outcomes.items()]

    def _result(self, route: RouteSettings, delivery_id: int,
                parts: list[_PartOutcome]) -> SendResult:
        duplicates = sum(part.resubmissions for part in parts)
        note = ("a part was submitted again after a lost response; the handset may show it"
                " twice") if duplicates else None
        refused = [(number, part) for number, part in enumerate(parts, start=1)
                   if part.command_status is not None]
        if refused:
            number, part = refused[0]
            reason = (f"part {number} of {len(parts)} refused by the SMSC:"
                      f" command_status 0x{part.command_status:08X}")
            if len(refused) == len(parts) and not any(item.permanent for _, item in refused):
                return SendResult(delivery_id, None, DeliveryStatus.QUEUED, reason,
                                  duplicates=duplicates)
            if len(refused) < len(parts):
                reason += "; the other parts went out, so the message is incomplete"
            return SendResult(delivery_id, None, DeliveryStatus.FAILED, reason,
                              duplicates=duplicates)
        unanswered = [number for number, part in enumerate(parts, start=1) if not part.answered]
        if unanswered:
            return SendResult(delivery_id, None, DeliveryStatus.SENT,
                              f"parts {unanswered} unanswered after {route.response_timeout}s;"
                              " the bind keeps submitting them, so receipts cannot be matched",
                              duplicates=duplicates)
        identifiers = tuple(
            provider_id(route.name, sms_receipts.normalise_message_id(part.message_id or "",
                                                                      route.message_id_base))
            for part in parts)
        # One submit_sm with message_payload is segmented by the SMSC, which does not say how.
        return SendResult(delivery_id, identifiers[0], DeliveryStatus.SENT, note,
                          parts=identifiers, duplicates=duplicates,
                          num_segments=None if route.message_payload else len(identifiers))

    def parse_receipt(self, raw: Mapping[str, Any]) -> ParsedReceipt:
        """A receipt as ``receipt_fields`` writes it, or a REST route's status callback."""
        if "MessageSid" in raw:
            return parse_status_callback(raw, self.routes.rest_route_names)
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
        bind = raw.get("bind")
        route = self.routes.route_of_bind(bind) if isinstance(bind, str) else None
        if route is None:
            raise ReceiptError("bind", f"{bind!r} is no bind of this channel's routes")
        canonical = sms_receipts.normalise_message_id(receipt.raw_message_id,
                                                      route.message_id_base)
        detail = f"stat:{receipt.state} err:{receipt.error_code or '-'}"
        return ParsedReceipt(provider_id(route.name, canonical), receipt.delivery_status,
                             detail)

    def close(self) -> None:
        self.routes.close()
        self.copies.clear()


def _international(address: str) -> str:
    # Targets hold E.164 with its "+"; SMPP marks that by the international TON instead.
    return address.removeprefix("+")


def _integer(raw: Mapping[str, Any], field: str, default: int | None = None) -> int:
    value = raw.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReceiptError(field, f"{value!r} is not an integer")
    return value

