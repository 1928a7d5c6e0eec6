"""Per district sub-center: did its node ack each message of an alert, and its local counts.

A node acks a message with its aggregated receipt, which moves the node's
delivery on the ``district`` channel to delivered and carries, per local
channel (boards, speakers), how many of its devices have it, failed, or
still wait (``publisher.services.district_stream``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.channels.base import DeliveryStatus
from publisher.services.district_nodes import DISTRICT_CHANNEL, is_offline
from publisher.services.district_stream import COUNT_NAMES
from publisher.store.models import Delivery, DistrictNode, DistrictNodeCount

__all__ = ["node_acks"]


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _local_counts(session: Session, delivery_ids: Sequence[int]
                  ) -> dict[int, dict[str, dict[str, int]]]:
    counts: dict[int, dict[str, dict[str, int]]] = {}
    for row in session.scalars(select(DistrictNodeCount)
                               .where(DistrictNodeCount.delivery_id.in_(delivery_ids))
                               .order_by(DistrictNodeCount.local_channel)):
        counts.setdefault(row.delivery_id, {})[row.local_channel] = {
            name: getattr(row, name) for name in COUNT_NAMES}
    return counts


def node_acks(session: Session, message_ids: Sequence[int], now: datetime) -> list[dict[str, Any]]:
    """The nodes that had any of ``message_ids`` pushed to them, by district code.

    Each with whether it is offline now, and per message the state of the
    push, when the node acked it, and its local counts per local channel.
    """
    rows = session.execute(
        select(DistrictNode, Delivery.id, Delivery.message_id, Delivery.status,
               Delivery.delivered_at, Delivery.last_error)
        .join(Delivery, Delivery.target_id == DistrictNode.target_id)
        .where(Delivery.channel == DISTRICT_CHANNEL, Delivery.message_id.in_(message_ids))
        .order_by(DistrictNode.code, Delivery.message_id)).all()
    local = _local_counts(session, [row[1] for row in rows]) if rows else {}
    nodes: dict[str, dict[str, Any]] = {}
    for node, delivery_id, message_id, status, delivered_at, last_error in rows:
        entry = nodes.setdefault(node.code, {
            "code": node.code, "name": node.name, "offline": is_offline(node, now),
            "messages": []})
        entry["messages"].append({
            "message_id": message_id, "status": status.value,
            "acked": status is DeliveryStatus.DELIVERED, "acked_at": _moment(delivered_at),
            "reason": last_error, "local": local.get(delivery_id, {})})
    return list(nodes.values())
