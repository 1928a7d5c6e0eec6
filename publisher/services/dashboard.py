"""The live delivery dashboard of one alert: where every message stands on every channel.

Per message of the alert (its Alert, Updates and Cancel) and per channel:
the deliveries queued (waiting or being handed over), sent, delivered,
failed, expired and skipped; the share delivered over time; the district
nodes' acks with their local counts; and the failed targets with their
reasons, a page at a time.

``change_marker`` is what a live view polls: two grouped queries over the
alert's deliveries and its nodes' counts, which change whenever anything the
dashboard shows moves. Only when it changes is the dashboard read again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.channels.base import DeliveryStatus
from publisher.services.actors import Actor
from publisher.services.dashboard_eew import eew_timings
from publisher.services.dashboard_failed import FAILED_PER_PAGE, failed_targets
from publisher.services.dashboard_nodes import node_acks
from publisher.services.dashboard_series import delivered_share_series
from publisher.services.district_nodes import require_staff
from publisher.services.queries import get_alert
from publisher.store.models import Delivery, DistrictNodeCount, Message, utcnow

__all__ = ["COLUMNS", "ChangeMarker", "change_marker", "dashboard", "read_dashboard",
           "require_reader"]

COLUMNS = ("queued", "sent", "delivered", "failed", "expired", "skipped")
"""The dashboard's columns; queued holds every delivery not yet handed over."""
_COLUMN_OF = {DeliveryStatus.PENDING: "queued", DeliveryStatus.QUEUED: "queued",
              DeliveryStatus.SENDING: "queued"} | {
    status: status.value for status in DeliveryStatus if status.value in COLUMNS}

ChangeMarker = tuple[tuple[Any, ...], ...]


def _status_counts(session: Session, message_ids: Sequence[int]
                   ) -> list[tuple[int, str, DeliveryStatus, int]]:
    # Grouped by the columns of the deliveries' (message, channel, status)
    # index: the database counts from the index alone.
    return [(message_id, channel, status, count) for message_id, channel, status, count in
            session.execute(select(Delivery.message_id, Delivery.channel, Delivery.status,
                                   func.count())
                            .where(Delivery.message_id.in_(message_ids))
                            .group_by(Delivery.message_id, Delivery.channel, Delivery.status)
                            .order_by(Delivery.message_id, Delivery.channel, Delivery.status))]


def _message_ids(session: Session, alert_id: int) -> list[int]:
    return list(session.scalars(select(Message.id).where(Message.alert_id == alert_id)
                                .order_by(Message.id)))


def change_marker(session: Session, alert_id: int) -> ChangeMarker:
    """Something that differs whenever the dashboard of the alert would show something else."""
    message_ids = _message_ids(session, alert_id)
    counts = tuple((message_id, channel, status.value, count)
                   for message_id, channel, status, count in _status_counts(session, message_ids))
    reported = session.execute(
        select(func.count(), func.max(DistrictNodeCount.received_at))
        .join(Delivery, Delivery.id == DistrictNodeCount.delivery_id)
        .where(Delivery.message_id.in_(message_ids))).one()
    return (tuple(message_ids), counts, (reported[0], str(reported[1])))


def _channel_counts(rows: Sequence[tuple[int, str, DeliveryStatus, int]]
                    ) -> dict[int, dict[str, dict[str, int]]]:
    counts: dict[int, dict[str, dict[str, int]]] = {}
    for message_id, channel, status, count in rows:
        columns = counts.setdefault(message_id, {}).setdefault(
            channel, dict.fromkeys(COLUMNS, 0))
        columns[_COLUMN_OF[status]] += count
    for by_channel in counts.values():
        for columns in by_channel.values():
            columns["total"] = sum(columns[name] for name in COLUMNS)
    return counts


def _message(session: Session, message: Message, channels: dict[str, dict[str, int]]
             ) -> dict[str, Any]:
    series = delivered_share_series(session, message.id, message.created_at,
                                    {channel: columns["total"]
                                     for channel, columns in channels.items()})
    return {
        "message_id": message.id, "identifier": message.identifier,
        "msg_type": message.msg_type, "status": message.status,
        "published_at": message.created_at.isoformat(),
        "channels": {channel: {**columns, "delivered_share": (
            round(columns["delivered"] / columns["total"], 4) if columns["total"] else 0.0)}
            for channel, columns in sorted(channels.items())},
        "series": {channel: found.as_json() for channel, found in series.items()},
    }


def require_reader(session: Session, actor: Actor, alert_id: int) -> None:
    """Refuse an actor without a staff role, or an alert that does not exist."""
    require_staff(actor, "reading the delivery dashboard")
    get_alert(session, alert_id)


def dashboard(session: Session, actor: Actor, alert_id: int, *, failed_page: int = 1,
              failed_per_page: int = FAILED_PER_PAGE, now: datetime | None = None
              ) -> dict[str, Any]:
    """The dashboard of the alert, for any staff role, with one page of failures."""
    require_reader(session, actor, alert_id)
    return read_dashboard(session, alert_id, failed_page=failed_page,
                          failed_per_page=failed_per_page, now=now)


def read_dashboard(session: Session, alert_id: int, *, failed_page: int = 1,
                   failed_per_page: int = FAILED_PER_PAGE, now: datetime | None = None
                   ) -> dict[str, Any]:
    """The dashboard of the alert, for a reader whose role was checked already."""
    alert = get_alert(session, alert_id)
    messages = list(alert.messages)
    counts = _channel_counts(_status_counts(session, [message.id for message in messages]))
    return {
        "alert": {"id": alert.id, "state": alert.state.value, "status": alert.status,
                  "event": alert.event, "headline": alert.headline},
        "messages": [_message(session, message, counts.get(message.id, {}))
                     for message in messages],
        "districts": node_acks(session, [message.id for message in messages], now or utcnow()),
        "failed": failed_targets(session, alert_id, page=failed_page,
                                 per_page=failed_per_page),
        "eew": eew_timings(session, alert_id),
    }
