"""What an agency is told about its submissions: each state change, by webhook and by polling.

``queue_state_changes`` compares each submission's alert with what the agency
was last told and writes one notification row per change: ``received``,
``approved``, ``published``, ``rejected`` (with the approver's reason),
``cancelled``, ``expired``, and once every delivery of the published message
is final, ``delivery_summary`` (counts by status). The rows are the agency's
history, answered on ``GET /api/intake/{id}``. ``send_due_notifications``
posts the due ones to the agency's webhook, signed as app pushes are
(``publisher.channels.app_signature``), and retries each with a doubling
backoff until the webhook answers 2xx.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.channels.app_signature import signed_headers
from publisher.store.models import (
    Agency,
    AgencyNotification,
    Alert,
    AlertState,
    Delivery,
    IntakeRecord,
    Message,
)

__all__ = ["MAX_BACKOFF_SECONDS", "Poster", "intake_json", "post_json", "queue_state_changes",
           "send_due_notifications"]

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600
DELIVERY_SUMMARY = "delivery_summary"
_TIMEOUT_SECONDS = 5.0
_EVENTS_OF_STATE = {
    AlertState.SUBMITTED: ("received",),
    AlertState.PUBLISHED: ("published",),
    AlertState.REJECTED: ("rejected",),
    AlertState.CANCELLED: ("cancelled",),
    AlertState.EXPIRED: ("expired",),
}

Poster = Callable[[str, bytes, dict[str, str]], int]
"""POST a body with headers to a URL; the HTTP status, or raise OSError when unreachable."""


def _summary(session: Session, alert_id: int) -> dict[str, int] | None:
    rows = session.execute(
        select(Delivery.status, func.count(), func.count(Delivery.final_at))
        .join(Message, Message.id == Delivery.message_id)
        .where(Message.alert_id == alert_id).group_by(Delivery.status)).all()
    if not rows or any(total != final for _, total, final in rows):
        return None
    return {status.value: total for status, total, _ in rows}


def _body(record: IntakeRecord, alert: Alert, event: str, **extra: Any) -> dict[str, Any]:
    return {"intake": record.id, "event": event, "identifier": record.identifier,
            "sender": record.sender, "sent": record.sent.isoformat(), "alert": alert.id,
            "state": alert.state.value, **extra}


def _changes(session: Session, record: IntakeRecord, alert: Alert) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    if alert.state.value != record.notified_state:
        events = _EVENTS_OF_STATE.get(alert.state, ())
        if alert.state is AlertState.PUBLISHED and alert.approver_id is not None:
            events = ("approved", *events)
        reason = {"reason": alert.rejection_reason} if alert.state is AlertState.REJECTED else {}
        changes += [_body(record, alert, event, **reason) for event in events]
        record.notified_state = alert.state.value
    if alert.state is AlertState.PUBLISHED and not session.scalars(
            select(AgencyNotification.id).where(AgencyNotification.intake_id == record.id,
                                                AgencyNotification.event == DELIVERY_SUMMARY)
    ).first():
        summary = _summary(session, alert.id)
        if summary is not None:
            changes.append(_body(record, alert, DELIVERY_SUMMARY, deliveries=summary))
    return changes


def queue_state_changes(session: Session, now: datetime, intake_id: int | None = None) -> int:
    """Write a notification for each change not told yet; how many were written."""
    query = select(IntakeRecord, Alert).join(Alert, Alert.id == IntakeRecord.alert_id)
    if intake_id is not None:
        query = query.where(IntakeRecord.id == intake_id)
    else:
        query = query.where((Alert.state == AlertState.PUBLISHED)
                            | (IntakeRecord.notified_state.is_(None))
                            | (IntakeRecord.notified_state != Alert.state))
    written = 0
    for record, alert in session.execute(query).all():
        for body in _changes(session, record, alert):
            session.add(AgencyNotification(intake_id=record.id, event=body["event"], body=body,
                                           attempts=0, due_at=now, created_at=now))
            written += 1
    session.flush()
    return written


def post_json(url: str, body: bytes, headers: dict[str, str]) -> int:
    """The real poster: urllib, no redirects followed, a short timeout."""
    request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 - http(s) checked
                                     headers={"Content-Type": "application/json; charset=utf-8",
                                              "User-Agent": "publisher-agency-notify", **headers})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, 2 ** attempts))


def send_due_notifications(session: Session, post: Poster, now: datetime) -> int:
    """Post each due notification of an agency with a webhook; how many were acknowledged."""
    due = session.execute(
        select(AgencyNotification, Agency)
        .join(IntakeRecord, IntakeRecord.id == AgencyNotification.intake_id)
        .join(Agency, Agency.id == IntakeRecord.agency_id)
        .where(AgencyNotification.acknowledged_at.is_(None), AgencyNotification.due_at <= now,
               Agency.webhook_url.is_not(None))
        .order_by(AgencyNotification.id)).all()
    acknowledged = 0
    for notification, agency in due:
        assert agency.webhook_url is not None and agency.webhook_secret is not None
        body = json.dumps(notification.body, sort_keys=True).encode("utf-8")
        headers = {"X-Publisher-Event": notification.event,
                   **signed_headers(agency.webhook_secret, int(now.timestamp()), body)}
        notification.attempts += 1
        try:
            status = post(agency.webhook_url, body, headers)
            error = None if 200 <= status < 300 else f"answered HTTP {status}"
        except OSError as failure:
            error = f"not reachable: {failure}"
        if error is None:
            notification.acknowledged_at, notification.last_error = now, None
            acknowledged += 1
            continue
        notification.last_error = error
        notification.due_at = now + _backoff(notification.attempts)
        log.warning("agency notification not acknowledged; retried later", extra={
            "agency": agency.code, "notification": notification.id, "error": error,
            "attempts": notification.attempts})
    session.flush()
    return acknowledged


def intake_json(session: Session, record: IntakeRecord) -> dict[str, Any]:
    """What the agency polls: its submission, the center's alert and what it was told."""
    alert = record.alert
    history = session.scalars(select(AgencyNotification).where(
        AgencyNotification.intake_id == record.id).order_by(AgencyNotification.id)).all()
    return {
        "id": record.id, "identifier": record.identifier, "sender": record.sender,
        "sent": record.sent.isoformat(), "received_at": record.received_at.isoformat(),
        "alert": None if alert is None else {
            "id": alert.id, "state": alert.state.value,
            "rejection_reason": alert.rejection_reason,
            "messages": [message.identifier for message in alert.messages]},
        "events": [{"event": notification.event,
                    "created_at": notification.created_at.isoformat(),
                    "acknowledged": notification.acknowledged_at is not None,
                    **{key: value for key, value in notification.body.items()
                       if key in ("reason", "deliveries")}}
                   for notification in history],
    }
