"""What boards and speakers send back: acks (the receipts of their channels) and heartbeats.

An ack is recorded through ``record_receipt`` like any receipt, after two
checks the receipts service cannot make: the device is the one the token
names (``devices.authenticate_device``), and the delivery it acks was made
to that device. The provider id of a device delivery is its delivery id
(``docs/protocols/led.md``), which is how the second check finds it; a
device that acks another device's delivery is refused.

A device acks as soon as it shows or plays a message, which may be before
the worker that pushed the batch has recorded the batch's provider ids: the
ack then matches no delivery yet. ``EarlyAcks`` keeps such provider ids and
offers them to ``rematch_receipts`` again every round until they match or
their time is up, as the SMS inbound pump does for early delivery reports.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.base import Channel, ReceiptError
from publisher.services.devices import touch_device
from publisher.services.errors import Forbidden, InvalidInput
from publisher.services.receipts import rematch_receipts, store_receipt
from publisher.services.waiting_ids import WaitingIds
from publisher.store.models import Delivery, Device, ReceiptOutcome

__all__ = [
    "ACK_WAIT_LIMIT",
    "ACK_WAIT_SECONDS",
    "EarlyAcks",
    "RecordedAck",
    "record_ack",
    "record_heartbeat",
]

log = logging.getLogger(__name__)

ACK_WAIT_SECONDS = 600.0
"""How long an ack that matched nothing is offered again: longer than any batch's push."""
ACK_WAIT_LIMIT = 10_000
_SHOWN_IDS = 10


@dataclass(frozen=True, slots=True)
class RecordedAck:
    outcome: ReceiptOutcome
    provider_id: str | None
    refusal: ReceiptError | None = None
    """Why the ack was not understood (it is stored all the same, as invalid)."""


def _check_own_delivery(session: Session, device: Device, provider_id: str) -> None:
    delivery_id = int(provider_id) if provider_id.isdigit() else None
    target_id = session.scalar(select(Delivery.target_id).where(
        Delivery.id == delivery_id, Delivery.channel == device.kind.channel))
    if target_id != device.target_id:
        raise Forbidden(f"delivery {provider_id} was not made to device {device.device_id}",
                        field="delivery")


def record_ack(session: Session, device: Device, channel: Channel[Any],
               raw: Mapping[str, Any], *, now: datetime | None = None) -> RecordedAck:
    """Record an ack of ``device`` on ``channel`` (its kind's) and note that it was heard from.

    An ack that cannot be understood is stored as invalid and returned with
    the reason; an ack of another device's delivery raises Forbidden.
    """
    touch_device(device, now)
    try:
        parsed = channel.parse_receipt(raw)
    except ReceiptError as error:
        store_receipt(session, channel, raw)
        return RecordedAck(ReceiptOutcome.INVALID, None, error)
    _check_own_delivery(session, device, parsed.provider_id)
    receipt = store_receipt(session, channel, raw)
    return RecordedAck(receipt.outcome, parsed.provider_id)


def _check_time(value: Any) -> None:
    if value is None:
        return
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return
    raise InvalidInput(f"must be an ISO 8601 time, not {value!r}", field="at")


def _identifiers(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInput("must be a list of CAP identifiers", field="showing")
    return value


def record_heartbeat(device: Device, body: Mapping[str, Any], *,
                     now: datetime | None = None) -> bool:
    """Note a heartbeat of ``device``; whether it had been offline until now.

    ``at`` (the device's clock, ISO 8601) and ``showing`` (the identifiers on
    air) are checked; the platform's clock is what counts as last seen.
    """
    _check_time(body.get("at"))
    showing = _identifiers(body.get("showing", []))
    came_back = touch_device(device, now)
    if came_back:
        log.info("device back online", extra={"device_id": device.device_id,
                                               "kind": device.kind.value,
                                               "showing": showing[:_SHOWN_IDS]})
    return came_back


class EarlyAcks:
    """Provider ids of acks that matched no delivery yet, per channel, offered again for a while.

    ``keep`` is called from the threads that record acks, ``rematch`` from
    one thread on a timer: a lock keeps the two apart.
    """

    def __init__(self, wait_seconds: float = ACK_WAIT_SECONDS,
                 limit: int = ACK_WAIT_LIMIT) -> None:
        self._lock = threading.Lock()
        self._waiting = WaitingIds[tuple[str, str]](wait_seconds, limit)

    def __len__(self) -> int:
        with self._lock:
            return len(self._waiting)

    def keep(self, channel: str, provider_id: str, now: float) -> None:
        with self._lock:
            pushed = self._waiting.keep([(channel, provider_id)], now)
        for dropped in pushed:
            log.warning("device ack matches no delivery: too many waiting",
                        extra={"channel": dropped[0], "provider_id": dropped[1]})

    def _by_channel(self, now: float) -> dict[str, list[str]]:
        """The kept ids by channel, after dropping those whose time is up."""
        with self._lock:
            expired = self._waiting.expired(now)
            waiting: dict[str, list[str]] = {}
            for channel, provider_id in self._waiting:
                waiting.setdefault(channel, []).append(provider_id)
        if expired:
            log.info("device acks match no delivery: given up", extra={
                "acks": len(expired), "provider_ids": [key[1] for key in expired[:_SHOWN_IDS]]})
        return waiting

    def rematch(self, sessions: sessionmaker[Session],
                channel_for: Callable[[str], Channel[Any]], now: float) -> int:
        """Offer every kept ack again; returns how many wait no more (committed)."""
        matched = 0
        for name, provider_ids in self._by_channel(now).items():
            with sessions() as session:
                found = rematch_receipts(session, channel_for(name), provider_ids)
                session.commit()
            with self._lock:
                self._waiting.discard((name, provider_id) for provider_id in found)
            matched += len(found)
        return matched
