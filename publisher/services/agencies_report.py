"""Per agency and per month: submitted, accepted, rejected with the reasons, and how fast.

Submitted counts every message the agency sent in the month (UTC), accepted
those that entered the center (queued or published), rejected those refused
at the door (by rule and reason) and those the center's approvers rejected
(with their reasons). The median is from receipt to the first published
message, over the month's accepted submissions that were published.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.services.actors import Actor, require_role
from publisher.services.agencies import find_agency
from publisher.services.apps_report import month_bounds
from publisher.services.errors import NotFound
from publisher.store.models import Alert, AlertState, IntakeRecord, IntakeRefusal, Message, Role

__all__ = ["agency_report"]


def agency_report(session: Session, actor: Actor, code: str, month: str) -> dict[str, Any]:
    require_role(actor, Role.ADMIN, "reading an agency's report")
    agency = find_agency(session, code)
    if agency is None:
        raise NotFound(f"no agency {code!r}", field="code")
    start, end = month_bounds(month)
    refused = session.execute(select(IntakeRefusal.rule, IntakeRefusal.reason).where(
        IntakeRefusal.agency_id == agency.id, IntakeRefusal.received_at >= start,
        IntakeRefusal.received_at < end)).all()
    first_issue = (select(Message.alert_id, func.min(Message.created_at).label("published_at"))
                   .group_by(Message.alert_id).subquery())
    accepted = session.execute(
        select(IntakeRecord.received_at, Alert.state, Alert.rejection_reason,
               first_issue.c.published_at)
        .join(Alert, Alert.id == IntakeRecord.alert_id)
        .outerjoin(first_issue, first_issue.c.alert_id == Alert.id)
        .where(IntakeRecord.agency_id == agency.id, IntakeRecord.received_at >= start,
               IntakeRecord.received_at < end)).all()
    reasons = Counter(f"{rule}: {reason}" for rule, reason in refused)
    reasons.update(f"center: {reason}" for _, state, reason, _ in accepted
                   if state is AlertState.REJECTED)
    delays = [(published - received).total_seconds()
              for received, _, _, published in accepted if published is not None]
    return {
        "agency": code, "month": month,
        "submitted": len(refused) + len(accepted),
        "accepted": len(accepted),
        "rejected": len(refused) + sum(state is AlertState.REJECTED
                                       for _, state, _, _ in accepted),
        "published": len(delays),
        "rejections": [{"reason": reason, "count": count}
                       for reason, count in sorted(reasons.items())],
        "median_seconds_to_publication": statistics.median(delays) if delays else None,
    }
