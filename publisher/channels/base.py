"""The Channel contract: what every delivery channel does, and the words it speaks.

A channel renders an alert for one language, sends a batch of it to targets
and returns what each target became, parses the receipts its provider sends
back, and knows what cancelling means for it. It raises a transient or a
permanent error; it never answers with a bool.

The fan-out gives a channel only ids, addresses and the signed message: a
channel never touches the database, so that one written by a third party can
do no harm there.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar

from publisher.cap.model import Alert, Info

__all__ = [
    "Channel",
    "ChannelError",
    "DeliveryStatus",
    "OutgoingMessage",
    "ParsedReceipt",
    "PermanentChannelError",
    "ReceiptError",
    "SendResult",
    "TargetRef",
    "TransientChannelError",
]


class DeliveryStatus(enum.StrEnum):
    """Where one message stands with one target on one channel."""

    PENDING = "pending"      # waiting, with no batch yet; treated like QUEUED
    QUEUED = "queued"        # planned into a batch; its task is enqueued after the commit
    SENDING = "sending"      # a worker is handing it to the channel right now
    SENT = "sent"            # the channel accepted it; a provider id may follow receipts
    DELIVERED = "delivered"  # final: the receiver confirmed
    FAILED = "failed"        # final: permanent error, or retries exhausted
    EXPIRED = "expired"      # final: the provider gave up, or the alert expired first
    SKIPPED = "skipped"      # final: not sent on purpose (e.g. superseded before sending)

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STATUSES

    @property
    def was_handed_over(self) -> bool:
        """The channel has (or may have) the message: never hand it over again."""
        return self in _HANDED_OVER

    @property
    def rank(self) -> int:
        """Progress along the way; a delivery never moves to a lower rank."""
        return _RANKS[self]


_FINAL_STATUSES = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.FAILED,
                             DeliveryStatus.EXPIRED, DeliveryStatus.SKIPPED})
_HANDED_OVER = _FINAL_STATUSES | {DeliveryStatus.SENT}
_RANKS = {DeliveryStatus.PENDING: 0, DeliveryStatus.QUEUED: 1, DeliveryStatus.SENDING: 2,
          DeliveryStatus.SENT: 3} | dict.fromkeys(_FINAL_STATUSES, 4)


class ChannelError(Exception):
    """A send or cancel that did not happen; ``reason`` says why in the provider's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientChannelError(ChannelError):
    """Nothing of the batch was taken, and trying again later may work (timeouts, throttling)."""


class PermanentChannelError(ChannelError):
    """Nothing of the batch was taken, and trying again will not help (bad credentials)."""


class ReceiptError(ValueError):
    """A receipt that cannot be understood; ``field`` names the part that is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A published CAP message as the channels see it: parsed, and as signed."""

    message_id: int
    alert: Alert
    xml: bytes
    msg_type: str
    status: str

    @property
    def identifier(self) -> str:
        return self.alert.identifier

    def info_for(self, language: str) -> Info:
        """The info block in the target's language, else the first one the sender wrote."""
        found = self.alert.info_for(language)
        if found is not None:
            return found
        if not self.alert.infos:
            raise ChannelError(f"message {self.identifier} has no info block to render")
        return self.alert.infos[0]


@dataclass(frozen=True, slots=True)
class TargetRef:
    """One target of a batch, as much of it as a channel needs to reach it.

    A device (an LED board, a speaker) also gives its own id, which its acks
    name, and its capabilities (board size, colours, languages, formats):
    both stay empty for every other target. ``districts`` (its own and those
    it follows) are given only to a channel that ``reads_target_districts``.
    """

    delivery_id: int
    target_id: int
    address: str
    language: str
    is_test: bool
    device_id: str | None = None
    capabilities: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), hash=False)
    districts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of one target of a batch.

    ``status`` is SENT (accepted; receipts follow), a final status, or QUEUED
    for a target the provider could not take this time: the batch is then
    retried for it with backoff.

    A provider that takes a message in several parts, each with its own id
    and receipts (a concatenated SMS), names them in ``parts``, in order;
    ``provider_id`` is then the first of them. ``duplicates`` counts parts
    handed over again after the provider's answer was lost: the receiver may
    get each of those twice. ``retire_target``: the provider says the
    address will never take a message again (a WeChat user who unfollowed,
    errcode 43004); the delivery service retires the target. ``num_segments``:
    the SMS segments the message took, when the provider says (or the channel
    knows) it.
    """

    delivery_id: int
    provider_id: str | None
    status: DeliveryStatus
    error: str | None = None
    parts: tuple[str, ...] = ()
    duplicates: int = 0
    retire_target: bool = False
    num_segments: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedReceipt:
    provider_id: str
    status: DeliveryStatus
    detail: str = ""


Rendering = TypeVar("Rendering")


class Channel(ABC, Generic[Rendering]):
    """One way of reaching people: SMS, LED boards, speakers, push, feeds, district nodes.

    Limits are class attributes so that the fan-out and the documentation can
    read them without an instance.

    ``idempotent_by_delivery_id`` says whether handing the same delivery id
    over twice reaches the person once (the provider deduplicates by our id).
    Only such a channel is given a delivery again after a worker died in the
    middle of handing it over: the fan-out cannot know whether the provider
    got it. Every other channel gets such a delivery marked failed with that
    reason instead of a possible duplicate.

    ``inline_first_batch`` lets the fan-out hand the first batch of a message
    to this channel itself, in the worker that planned it, instead of through
    the channel's queue: one task hop less to the first send. It is for
    channels that are cheap to open anywhere and local (the memory sink), and
    requires ``idempotent_by_delivery_id``: a fan-out that comes back after
    its worker died hands that batch over again. Channels with dedicated
    connections (SMPP binds, push sessions) keep every batch on their own
    queue, where the workers that hold those connections and their rate
    limits are; a fan-out worker opening binds of its own would break both.
    """

    name: ClassVar[str]
    batch_size: ClassVar[int] = 1000
    rate_per_second: ClassVar[float | None] = None
    idempotent_by_delivery_id: ClassVar[bool] = False
    inline_first_batch: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.inline_first_batch and not cls.idempotent_by_delivery_id:
            raise TypeError(f"{cls.__name__}: inline_first_batch requires"
                            " idempotent_by_delivery_id (an inline batch may be handed over again)")

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options: Mapping[str, Any] = dict(options or {})

    @property
    def reads_target_districts(self) -> bool:
        """Whether ``send`` reads each target's ``districts``: the delivery service looks
        them up only then (the SMS channel, when a route is for some districts only)."""
        return False

    @abstractmethod
    def render(self, message: OutgoingMessage, language: str) -> Rendering:
        """The message as this channel carries it in one language (text, pages, script...)."""

    @abstractmethod
    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        """Hand the message to every target of a batch; one result per target.

        Raise TransientChannelError or PermanentChannelError when the batch as
        a whole was not taken; report a single target's failure in its result.
        """

    def cancel(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        """Withdraw what an earlier message put out: ``message`` is the Cancel itself.

        The default sends the Cancel like any message, which is right for
        channels that carry words (an all-clear SMS). Channels with a state
        (boards, speakers, feeds) override it to clear that state.
        """
        return self.send(message, targets)

    @abstractmethod
    def parse_receipt(self, raw: Mapping[str, Any]) -> ParsedReceipt:
        """One receipt from the provider; raise ReceiptError when it cannot be understood."""

    def close(self) -> None:
        """Release connections kept open between batches (binds, sockets)."""
