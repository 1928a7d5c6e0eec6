"""The channels of an agency's alert: only those its permission matrix names.

An agency names the channels it asks for in a ``channels`` parameter, and
the intake refuses a channel outside its matrix. That check alone would let
the fan-out send the alert on every channel the installation runs: an
agency permitted the feed and SMS would still light the boards. So the
fan-out of every message of an alert that came through the intake (its
Alert, its Updates, its Cancel) plans only the channels the agency is
permitted now. The channels left out are audited once per message, on the
alert, where the alert page and ``GET /api/alerts/{id}`` show them.

An agency whose matrix names no channels (``channels`` absent) leaves the
choice to the fan-out, as for the center's own alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.services import audit
from publisher.services.actors import Actor
from publisher.services.agencies import agency_permissions
from publisher.store.models import AuditEntry, Message

__all__ = ["CHANNELS_LIMITED", "channel_limits", "permitted_channels"]

CHANNELS_LIMITED = "fanout_channels_limited"
_ACTOR = Actor.system("fanout")


def permitted_channels(session: Session, message_id: int,
                       channels: Sequence[str]) -> tuple[str, ...]:
    """``channels`` less those the message's agency may not use; the rest audited.

    The audit entry is written once per message: a fan-out that runs again
    (its task redelivered) finds it and adds none.
    """
    message = session.get(Message, message_id)
    agency = message.alert.agency if message is not None else None
    if message is None or agency is None:
        return tuple(channels)
    allowed = agency_permissions(agency).channels
    if allowed is None:
        return tuple(channels)
    permitted = tuple(channel for channel in channels if channel in allowed)
    limited = [channel for channel in channels if channel not in allowed]
    if limited and not _audited(session, message_id):
        audit.record(
            session, _ACTOR, CHANNELS_LIMITED, alert_id=message.alert_id, message_id=message_id,
            reason=f"not planned on {', '.join(limited)}: agency {agency.code} may use"
                   f" {', '.join(sorted(allowed)) or 'no channel'}",
            detail={"agency": agency.code, "identifier": message.identifier,
                    "permitted": sorted(allowed), "limited": limited})
    return permitted


def _audited(session: Session, message_id: int) -> bool:
    return session.scalar(select(AuditEntry.id).where(
        AuditEntry.message_id == message_id, AuditEntry.action == CHANNELS_LIMITED)
        .limit(1)) is not None


def channel_limits(session: Session, alert_id: int) -> list[dict[str, Any]]:
    """The channels each message of the alert was not planned on, and why, oldest first."""
    entries = session.scalars(select(AuditEntry).where(
        AuditEntry.alert_id == alert_id, AuditEntry.action == CHANNELS_LIMITED)
        .order_by(AuditEntry.id))
    return [{"message_id": entry.message_id, "identifier": entry.detail.get("identifier"),
             "agency": entry.detail.get("agency"), "limited": entry.detail.get("limited", []),
             "permitted": entry.detail.get("permitted", []), "reason": entry.reason,
             "at": entry.at.isoformat()} for entry in entries]
