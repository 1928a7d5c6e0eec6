"""A channel as the lane's batches of an early warning see it: each district with its countdown.

``district_view(channel, district_of)`` hands the channel, for the targets of
each district of a batch, the message as that district gets it
(``eew_text.for_district``), the districts side by side in threads: one
batch, one round of the delivery service's bookkeeping, however many
districts it spans. The signed XML is the center's, with every district's
countdown; only what the channel renders changes.

``published_view(channel, groups)`` is the MQTT channel less the topic
groups the web process published already (``eew_terminals``): their
terminals are recorded as sent without a second publication.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import cache
from typing import Any

from publisher.channels.base import (
    Channel,
    OutgoingMessage,
    ParsedReceipt,
    SendResult,
    TargetRef,
)
from publisher.channels.eew_text import for_district
from publisher.channels.mqtt import MqttChannel, TopicGroup

__all__ = ["district_view", "published_view"]

# Districts of one batch handed to the channel at once.
DISTRICTS_AT_ONCE = 8


class _DistrictView(Channel[Any]):
    def __init__(self, inner: Channel[Any], district_of: Mapping[int, str | None]) -> None:
        super().__init__(inner.options)
        self.inner = inner
        self.district_of = district_of

    def render(self, message: OutgoingMessage, language: str) -> Any:
        return self.inner.render(message, language)

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        by_district: dict[str | None, list[TargetRef]] = defaultdict(list)
        for target in targets:
            by_district[self.district_of.get(target.target_id)].append(target)
        if len(by_district) == 1:
            [(district, only)] = by_district.items()
            return self._send_local(message, district, only)
        with ThreadPoolExecutor(min(DISTRICTS_AT_ONCE, len(by_district)),
                                thread_name_prefix=f"eew-{self.name}") as pool:
            sent = pool.map(lambda item: self._send_local(message, *item), by_district.items())
            return [result for results in sent for result in results]

    def _send_local(self, message: OutgoingMessage, district: str | None,
                    targets: Sequence[TargetRef]) -> list[SendResult]:
        local = replace(message, alert=for_district(message.alert, district))
        return self.inner.send(local, targets)

    def cancel(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        return self.inner.cancel(message, targets)

    def parse_receipt(self, raw: Mapping[str, Any]) -> ParsedReceipt:
        return self.inner.parse_receipt(raw)


@cache
def _view_class(inner: type[Channel[Any]]) -> type[_DistrictView]:
    # The delivery service reads a channel's name and limits from its class.
    return type(f"District{inner.__name__}", (_DistrictView,), {
        "name": inner.name, "batch_size": inner.batch_size,
        "idempotent_by_delivery_id": inner.idempotent_by_delivery_id})


def district_view(channel: Channel[Any],
                  district_of: Mapping[int, str | None]) -> Channel[Any]:
    """``channel`` sending each target the message of its district (by target id)."""
    return _view_class(type(channel))(channel, district_of)


class _PublishedMqtt(Channel[bytes]):
    name = MqttChannel.name
    batch_size = MqttChannel.batch_size
    idempotent_by_delivery_id = MqttChannel.idempotent_by_delivery_id

    def __init__(self, inner: MqttChannel, published: Collection[TopicGroup]) -> None:
        super().__init__(inner.options)
        self.inner = inner
        self.published = frozenset(published)

    def render(self, message: OutgoingMessage, language: str) -> bytes:
        return self.inner.render(message, language)

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        return self.inner.send_leaving_out(message, targets, self.published)

    def cancel(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        return self.inner.cancel(message, targets)

    def parse_receipt(self, raw: Mapping[str, Any]) -> ParsedReceipt:
        return self.inner.parse_receipt(raw)


def published_view(channel: MqttChannel, published: Collection[TopicGroup]) -> Channel[Any]:
    """``channel`` publishing to every group of a batch but those in ``published``."""
    return _PublishedMqtt(channel, published)
