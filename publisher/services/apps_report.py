"""Per app and per month: how many messages it was handed, and how late they reached it.

The delivery lag of a message is the time from its issue (the message row's
creation, in the publishing transaction) to its receipt: the app's ack on
the stream, or the webhook's 2xx. The month is the month of issue, in UTC.
Percentiles are nearest-rank over the delivered messages.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.channels.base import DeliveryStatus
from publisher.services.actors import Actor, require_role
from publisher.services.apps import APP_CHANNEL, find_app
from publisher.services.errors import InvalidInput, NotFound
from publisher.store.models import Delivery, Message, Role

__all__ = ["AppReport", "app_report", "app_report_as_staff", "month_bounds", "percentile"]

_MONTH = re.compile(r"(\d{4})-(\d{2})")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` as [its first moment, the next month's first moment) in UTC."""
    found = _MONTH.fullmatch(month or "")
    if found is None or not 1 <= int(found[2]) <= 12:
        raise InvalidInput(f"must be a month as YYYY-MM, not {month!r}", field="month")
    year, number = int(found[1]), int(found[2])
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return start, end


def percentile(ordered: list[float], share: float) -> float | None:
    """The nearest-rank percentile of sorted values; None for none."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class AppReport:
    app: str
    month: str
    counts: dict[str, int]
    lag_p50_seconds: float | None
    lag_p99_seconds: float | None

    def as_json(self) -> dict[str, Any]:
        return {"app": self.app, "month": self.month, "counts": self.counts,
                "delivery_lag_seconds": {"p50": self.lag_p50_seconds,
                                         "p99": self.lag_p99_seconds}}


def app_report(session: Session, name: str, month: str) -> AppReport:
    app = find_app(session, name)
    if app is None:
        raise NotFound(f"no app {name!r}", field="name")
    start, end = month_bounds(month)
    rows = session.execute(
        select(Delivery.status, Message.created_at, Delivery.delivered_at)
        .join(Message, Message.id == Delivery.message_id)
        .where(Delivery.channel == APP_CHANNEL, Delivery.target_id == app.target_id,
               Message.created_at >= start, Message.created_at < end)).all()
    counts = dict.fromkeys((status.value for status in DeliveryStatus), 0)
    lags = []
    for status, issued, delivered in rows:
        counts[status.value] += 1
        if status is DeliveryStatus.DELIVERED and delivered is not None:
            lags.append(max(0.0, (delivered - issued).total_seconds()))
    lags.sort()
    return AppReport(name, month, {"total": len(rows), **counts},
                     percentile(lags, 0.50), percentile(lags, 0.99))


def app_report_as_staff(session: Session, actor: Actor, name: str, month: str) -> AppReport:
    require_role(actor, Role.ADMIN, "reading an app's report")
    return app_report(session, name, month)
