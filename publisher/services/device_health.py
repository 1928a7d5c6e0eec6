"""Whether the boards and speakers are listening: the time each last acked or sent a heartbeat.

A device is offline once it has been silent longer than its heartbeat
interval; one never heard from counts from the time it was registered, so a
new device has one interval to call in. An MQTT terminal is offline too
from the moment the broker publishes its Last Will (``terminal_statuses``)
until it is heard from again. Offline devices are the field's
trouble, not the platform's: ``/health`` lists them without failing.

Devices are counted in SQL: their intervals are few (a handful of values
across a city), so "silent too long" is one time comparison per interval,
and 100,000 devices are never read into Python to be counted.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.orm import Session

from publisher.store.models import Device, DeviceKind, utcnow

__all__ = [
    "OFFLINE_LISTED",
    "Health",
    "KindHealth",
    "device_health",
    "health_by_kind",
    "is_disconnected",
    "is_offline",
    "silent_condition",
]

OFFLINE_LISTED = 50
"""Offline devices ``/health`` names per kind; it counts them all."""


class Health(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    NEVER_SEEN = "never_seen"


def _silent_since(device: Device) -> datetime:
    return device.last_seen_at or device.created_at


def is_disconnected(device: Device) -> bool:
    """Reported lost by its MQTT Last Will, and not heard from since."""
    return device.disconnected_at is not None and \
        device.disconnected_at >= _silent_since(device)


def is_offline(device: Device, now: datetime | None = None) -> bool:
    """Silent longer than its interval (since it was registered, when never heard from), or
    reported lost by its MQTT Last Will and not heard from since."""
    silence = (now or utcnow()) - _silent_since(device)
    return silence > timedelta(seconds=device.heartbeat_interval) or is_disconnected(device)


def device_health(device: Device, now: datetime | None = None) -> Health:
    if device.last_seen_at is None:
        return Health.NEVER_SEEN
    return Health.OFFLINE if is_offline(device, now) else Health.ONLINE


def silent_condition(session: Session, now: datetime) -> ColumnElement[bool]:
    """Devices offline at ``now`` (``is_offline``), as a SQL condition."""
    intervals = session.scalars(select(Device.heartbeat_interval).distinct()).all()
    silent_since = func.coalesce(Device.last_seen_at, Device.created_at)
    return or_(false(), Device.disconnected_at >= silent_since, *(
        and_(Device.heartbeat_interval == seconds,
             silent_since < now - timedelta(seconds=seconds))
        for seconds in sorted(intervals)))


@dataclass(frozen=True, slots=True)
class KindHealth:
    total: int
    offline: int
    offline_ids: list[str]
    """The first ``OFFLINE_LISTED`` offline devices, by device id."""


def _counts(session: Session, query: Select[DeviceKind, int]) -> dict[DeviceKind, int]:
    return {kind: count for kind, count in session.execute(query)}


def health_by_kind(session: Session, now: datetime | None = None,
                   listed: int = OFFLINE_LISTED) -> dict[DeviceKind, KindHealth]:
    """Per kind of device: how many there are, how many are offline, and the first of those."""
    silent = silent_condition(session, now or utcnow())
    totals = _counts(session, select(Device.kind, func.count()).group_by(Device.kind))
    offline = _counts(session, select(Device.kind, func.count()).where(silent)
                      .group_by(Device.kind))
    report = {}
    for kind in DeviceKind:
        named = session.scalars(select(Device.device_id).where(Device.kind == kind, silent)
                                .order_by(Device.device_id).limit(listed)).all()
        report[kind] = KindHealth(totals.get(kind, 0), offline.get(kind, 0), list(named))
    return report
