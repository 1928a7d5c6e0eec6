"""The feed channel: the public Atom and RSS feeds, as one target that every alert reaches.

What a message becomes here is an entry of the feeds: its headline, its
summary and a link to its signed CAP XML; an Update replaces the entry, a
Cancel marks it cancelled. The feeds hold every public alert at once, so
putting one message on them means rebuilding them from the store, and a
channel never touches the database: the channel is given a ``republisher``
(``publisher.services.feeds.FeedRebuilder`` in the platform, wired where the
channel is created), hands it each message, and records the feed version
it answers as the provider id. A Cancel is sent like any message (the
default ``cancel``): it becomes the entry's latest message, which marks the
entry cancelled. The delivery is DELIVERED then, with no
receipt to wait for: the rebuilt feed is stored, and served as it is.

A rebuild reads the whole state, so doing it twice does no harm: the channel
is idempotent by delivery id, and its first batch is not worth a hop of its
own (one target, one rebuild).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from publisher.cap.model import MsgType
from publisher.channels.base import (
    Channel,
    DeliveryStatus,
    OutgoingMessage,
    ParsedReceipt,
    PermanentChannelError,
    ReceiptError,
    SendResult,
    TargetRef,
)

__all__ = ["FeedChannel", "FeedEntryText", "FeedRepublisher"]


@runtime_checkable
class FeedRepublisher(Protocol):
    def republish(self, message: OutgoingMessage) -> str:
        """Put ``message`` on the feeds; the feed version that holds it.

        Raises TransientChannelError when the feeds cannot be stored now.
        """


@dataclass(frozen=True, slots=True)
class FeedEntryText:
    """What an entry of the feeds says in one language."""

    title: str
    summary: str
    cancelled: bool


class FeedChannel(Channel[FeedEntryText]):
    name = "feed"
    batch_size = 100
    idempotent_by_delivery_id = True
    inline_first_batch = True

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        republisher = self.options.get("republisher")
        if not isinstance(republisher, FeedRepublisher):
            raise PermanentChannelError(
                "channel_options.feed.republisher: required, the feed store the channel puts"
                " messages on (publisher.services.feeds.FeedRebuilder)")
        self._republisher: FeedRepublisher = republisher

    def render(self, message: OutgoingMessage, language: str) -> FeedEntryText:
        info = message.info_for(language)
        return FeedEntryText(title=info.headline or info.event,
                             summary=info.description or info.instruction or "",
                             cancelled=message.alert.msg_type is MsgType.CANCEL)

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        if not targets:
            return []
        version = self._republisher.republish(message)
        return [SendResult(target.delivery_id, version, DeliveryStatus.DELIVERED)
                for target in targets]

    def parse_receipt(self, raw: Mapping[str, Any]) -> ParsedReceipt:
        raise ReceiptError("receipt", "the feed channel has no receipts: a stored feed is final")
