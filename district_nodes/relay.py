"""Relaying a message on the node's own boards, speakers and SMS group, through the platform's
channels.

The node's devices are targeted as the center targets its own: a device is
reached when an area of the alert covers it, or names the node's district
by its GB/T 2260 code. An Update shows on the devices it covers and clears
what it replaces from the others that had it; a Cancel clears (boards) and
stops (speakers) every device that had what it cancels. The SMS group
(``sms_group``) gets every message the node relays, a Cancel as the
all-clear SMS. Every push is a delivery row, whose id the device's ack
names (``acks.py`` records the acks); an SMS delivery follows its parts'
delivery reports. Every change of a delivery's status moves its message's
tally (``tallies.py``).

Channels block while they push, so they run in a worker thread; the store
is touched only from the event loop.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from district_nodes.config import NodeConfig
from district_nodes.messages import SignedMessage
from district_nodes.sms_group import SMS, drain_receipts, record_parts, settle_parts
from district_nodes.store import Delivery, StoredMessage
from district_nodes.tallies import count_deliveries, move_status
from publisher.cap.areas import AreaIndex, area_intersects_district, targeted_geometry
from publisher.cap.model import Area
from publisher.cap.reader import read_alert
from publisher.channels.base import (
    Channel,
    ChannelError,
    DeliveryStatus,
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TargetRef,
)
from publisher.channels.led import LedChannel
from publisher.channels.sms import SmsChannel
from publisher.channels.speaker import SpeakerChannel
from publisher.store.db import session_scope

__all__ = ["LocalRelay"]

_CHANNEL_CLASSES: Mapping[str, type[Channel[object]]] = {
    "led": LedChannel, "speaker": SpeakerChannel}  # type: ignore[dict-item]


@dataclass(frozen=True, slots=True)
class _Plan:
    kind: str
    clearing: bool
    device_ids: tuple[str, ...]


class LocalRelay:
    """The node's channels and devices, and the deliveries it makes on them."""

    def __init__(self, config: NodeConfig, sessions: sessionmaker[Session]) -> None:
        self._config = config
        self._sessions = sessions
        self._devices = {device.device_id: device for device in config.devices}
        self._channels: dict[str, Channel[object]] = {}
        self._indexes: dict[str, AreaIndex[str]] = {}
        for kind, channel_class in _CHANNEL_CLASSES.items():
            devices = config.devices_of(kind)
            if devices:
                self._channels[kind] = channel_class(config.channel_options[kind])
                self._indexes[kind] = AreaIndex(
                    (device.device_id, device.lon, device.lat) for device in devices)
        self._sms_languages = {member.msisdn: member.language for member in config.sms_group}
        # A delivery stays queued while its push is on the way, so that a crash
        # leaves it to be pushed again; the retry must not take it meanwhile.
        self._pushing: set[int] = set()
        if self._sms_languages:
            self._channels[SMS] = cast(Channel[object], SmsChannel(config.channel_options[SMS]))

    def channel(self, kind: str) -> Channel[object] | None:
        return self._channels.get(kind)

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()

    def device_token(self, device_id: str) -> str | None:
        device = self._devices.get(device_id)
        return None if device is None else device.token

    async def relay(self, message_id: int, message: SignedMessage,
                    channels: Collection[str] | None = None) -> None:
        """Push ``message`` (stored as ``message_id``) to every local device it concerns;
        only on ``channels`` when given (an agency's alert: the channels it may use)."""
        for plan in self._plans(message):
            if channels is not None and plan.kind not in channels:
                continue
            delivery_ids = self._create_deliveries(message_id, plan)
            await self._push(message_id, message, plan.kind, plan.clearing, delivery_ids)

    async def retry_queued(self) -> None:
        """Push again what a device could not take: unreachable, busy, or restarting."""
        with session_scope(self._sessions) as session:
            rows = session.execute(
                select(Delivery.id, Delivery.channel, StoredMessage.id, StoredMessage.xml,
                       StoredMessage.msg_type)
                .join(StoredMessage, StoredMessage.id == Delivery.message_id)
                .where(Delivery.status == DeliveryStatus.QUEUED.value,
                       StoredMessage.state == "relayed")).all()
        waiting: dict[tuple[int, str, bool], list[int]] = collections.defaultdict(list)
        xml_of: dict[int, bytes] = {}
        for delivery_id, kind, message_id, xml, msg_type in rows:
            if delivery_id in self._pushing:
                continue
            waiting[(message_id, kind, msg_type == "Cancel")].append(delivery_id)
            xml_of[message_id] = xml
        for (message_id, kind, clearing), delivery_ids in waiting.items():
            message = _stored_message(xml_of[message_id])
            await self._push(message_id, message, kind, clearing, delivery_ids)

    def take_sms_receipts(self) -> set[int]:
        """Apply the SMS delivery reports received so far; the messages whose counts moved."""
        channel = self._channels.get(SMS)
        if not isinstance(channel, SmsChannel):
            return set()
        receipts, acknowledgements = drain_receipts(channel)
        moved: set[int] = set()
        if receipts:
            with session_scope(self._sessions) as session:
                moved = settle_parts(session, receipts)
        # Answered once committed: the SMSC delivers again what a crash lost.
        channel.acknowledge(acknowledgements)
        return moved

    def _covered(self, kind: str, message: SignedMessage) -> list[str]:
        if kind == SMS:
            # The group lives in the district: whatever the node relays concerns it.
            return sorted(self._sms_languages)
        index = self._indexes.get(kind)
        if index is None:
            return []
        areas = [area for info in message.alert.infos for area in info.areas]
        if any(_names_district(area, self._config) for area in areas):
            return [device.device_id for device in self._config.devices_of(kind)]
        found: set[str] = set()
        for area in areas:
            found.update(index.within(targeted_geometry(area)))
        return sorted(found)

    def _holding(self, kind: str, identifiers: Sequence[str]) -> list[str]:
        """The devices of ``kind`` that were given any of these messages."""
        if not identifiers:
            return []
        with session_scope(self._sessions) as session:
            return sorted(set(session.scalars(
                select(Delivery.device_id)
                .join(StoredMessage, StoredMessage.id == Delivery.message_id)
                .where(StoredMessage.identifier.in_(identifiers), Delivery.channel == kind,
                       StoredMessage.msg_type != "Cancel"))))

    def _plans(self, message: SignedMessage) -> list[_Plan]:
        plans: list[_Plan] = []
        for kind in self._channels:
            holding = self._holding(kind, message.references)
            if message.is_cancel:
                plans.append(_Plan(kind, True, tuple(holding)))
                continue
            covered = self._covered(kind, message)
            plans.append(_Plan(kind, False, tuple(covered)))
            plans.append(_Plan(kind, True, tuple(sorted(set(holding) - set(covered)))))
        return [plan for plan in plans if plan.device_ids]

    def _create_deliveries(self, message_id: int, plan: _Plan) -> list[int]:
        with session_scope(self._sessions) as session:
            deliveries = [Delivery(message_id=message_id, channel=plan.kind, device_id=device_id,
                                   status=DeliveryStatus.QUEUED.value)
                          for device_id in plan.device_ids]
            session.add_all(deliveries)
            session.flush()
            count_deliveries(session, deliveries)
            return [delivery.id for delivery in deliveries]

    async def _push(self, message_id: int, message: SignedMessage, kind: str, clearing: bool,
                    delivery_ids: Sequence[int]) -> None:
        self._pushing.update(delivery_ids)
        try:
            await self._push_now(message_id, message, kind, clearing, delivery_ids)
        finally:
            self._pushing.difference_update(delivery_ids)

    async def _push_now(self, message_id: int, message: SignedMessage, kind: str,
                        clearing: bool, delivery_ids: Sequence[int]) -> None:
        channel = self._channels[kind]
        with session_scope(self._sessions) as session:
            targets = [self._target(delivery) for delivery in session.scalars(
                select(Delivery).where(Delivery.id.in_(delivery_ids)))]
        outgoing = OutgoingMessage(message_id, message.alert, message.xml,
                                   message.alert.msg_type.value, message.alert.status.value)
        push = channel.cancel if clearing else channel.send
        try:
            results = await asyncio.to_thread(push, outgoing, targets)
        except ChannelError as error:
            # Transient: left queued and pushed again with the devices that could not take it.
            status = (DeliveryStatus.FAILED if isinstance(error, PermanentChannelError)
                      else DeliveryStatus.QUEUED)
            results = [SendResult(target.delivery_id, None, status, error.reason)
                       for target in targets]
        self._record(results)

    def _target(self, delivery: Delivery) -> TargetRef:
        if delivery.channel == SMS:
            return TargetRef(delivery_id=delivery.id, target_id=delivery.id,
                             address=delivery.device_id,
                             language=self._sms_languages[delivery.device_id], is_test=False)
        device = self._devices[delivery.device_id]
        return TargetRef(delivery_id=delivery.id, target_id=delivery.id, address=device.endpoint,
                         language=device.language, is_test=False, device_id=device.device_id,
                         capabilities=device.capabilities)

    def _record(self, results: Sequence[SendResult]) -> None:
        with session_scope(self._sessions) as session:
            record_parts(session, results)
            for result in results:
                delivery = session.get(Delivery, result.delivery_id)
                # An ack may have come back before the push's own answer was recorded.
                if delivery is not None and DeliveryStatus(delivery.status).rank < \
                        result.status.rank:
                    move_status(session, delivery, result.status, result.error or "")


def _names_district(area: Area, config: NodeConfig) -> bool:
    """Whether a geocode of the area names the node's district (or a unit holding it)."""
    return area_intersects_district(Area(area.area_desc, geocodes=area.geocodes), config.district)


def _stored_message(xml: bytes) -> SignedMessage:
    result = read_alert(xml)
    assert result.alert is not None, "a stored message was read when it was taken"
    return SignedMessage(result.alert, xml)
