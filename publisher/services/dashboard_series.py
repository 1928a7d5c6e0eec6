"""The share of a message's deliveries delivered over time, per channel, counted in SQL.

The deliveries are counted per channel and time bucket by the database:
one grouped query reads the delivered rows of a message (by the index on
message, channel and status) and returns at most ``MAX_BUCKETS`` rows per
channel, so 100,000 deliveries never come into Python. The bucket width is
a round number of seconds chosen from the time the last delivery took.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, func, select
from sqlalchemy.orm import Session

from publisher.channels.base import DeliveryStatus
from publisher.store.models import Delivery

__all__ = ["BUCKET_STEPS", "MAX_BUCKETS", "Series", "bucket_step", "delivered_share_series",
           "epoch_seconds"]

MAX_BUCKETS = 60
BUCKET_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21_600,
                43_200, 86_400)
"""Bucket widths in seconds, each a round figure on a clock."""
_UNIX_EPOCH_JULIAN_DAY = 2440587.5
_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Series:
    """One channel's delivered share: (seconds since publishing, share) at each bucket's end."""

    step_seconds: int
    points: list[tuple[int, float]]

    def as_json(self) -> dict[str, Any]:
        return {"step_seconds": self.step_seconds,
                "points": [[seconds, share] for seconds, share in self.points]}


def bucket_step(span_seconds: float) -> int:
    """The smallest round width that covers ``span_seconds`` in ``MAX_BUCKETS`` buckets."""
    for step in BUCKET_STEPS:
        if step * MAX_BUCKETS >= span_seconds:
            return step
    return BUCKET_STEPS[-1] * -(-int(span_seconds) // (BUCKET_STEPS[-1] * MAX_BUCKETS))


def epoch_seconds(dialect: str, column: Any) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.extract("epoch", column)
    # SQLite keeps times as UTC text, which julianday() reads.
    return (func.julianday(column) - _UNIX_EPOCH_JULIAN_DAY) * _SECONDS_PER_DAY


def _bucket(dialect: str, seconds: ColumnElement[Any], step: int) -> ColumnElement[int]:
    # PostgreSQL rounds a number cast to an integer; SQLite truncates, which
    # is the floor for the times after publishing that are counted here.
    if dialect == "postgresql":
        return cast(func.floor(seconds / step), Integer)
    return cast(seconds / step, Integer)


def delivered_share_series(session: Session, message_id: int, published_at: datetime,
                           totals: Mapping[str, int]) -> dict[str, Series]:
    """Per channel of ``totals`` (deliveries per channel), the cumulative delivered share.

    Every series starts at (0, 0.0); a channel with nothing delivered yet has
    that point only.
    """
    delivered = (Delivery.message_id == message_id, Delivery.status == DeliveryStatus.DELIVERED,
                 Delivery.delivered_at.is_not(None))
    last: datetime | None = session.scalar(select(func.max(Delivery.delivered_at))
                                           .where(*delivered))
    step = bucket_step((last - published_at).total_seconds() if last is not None else 0.0)
    dialect = session.get_bind().dialect.name
    since = epoch_seconds(dialect, Delivery.delivered_at) - published_at.timestamp()
    bucket = _bucket(dialect, since, step).label("bucket")
    counted: dict[str, list[tuple[int, int]]] = {}
    for channel, number, count in session.execute(
            select(Delivery.channel, bucket, func.count()).where(*delivered)
            .group_by(Delivery.channel, bucket).order_by(Delivery.channel, bucket)):
        counted.setdefault(channel, []).append((max(int(number), 0), count))
    series = {}
    for channel, total in sorted(totals.items()):
        points, running = [(0, 0.0)], 0
        for number, count in counted.get(channel, []):
            running += count
            end = (number + 1) * step
            if points[-1][0] == end:
                # A time from before publishing (a clock apart) counts in the first bucket.
                points.pop()
            points.append((end, round(running / total, 4) if total else 0.0))
        series[channel] = Series(step, points)
    return series
