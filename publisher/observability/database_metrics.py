"""The platform's metrics that live in the database, read at scrape time.

Workers are separate processes (often on other hosts): what they did is in
the delivery rows, the bind-state table and the device and node tables, so
the web application reads it from there when Prometheus scrapes, and no
worker needs a metrics registry of its own.

Every delivery query is bounded by ``window``: it reads the deliveries of
the CAP messages issued in that window (the messages table is small: one row
per alert, update or cancel), through the deliveries' unique index whose
first column is the message. A scrape therefore costs in proportion to the
recent deliveries, never to the whole history.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from publisher.channels.base import DeliveryStatus
from publisher.services.dashboard_series import epoch_seconds
from publisher.services.device_health import health_by_kind
from publisher.services.district_nodes import DISTRICT_CHANNEL
from publisher.services.sms_bind_states import FRESH_SECONDS, binds_by_route
from publisher.store.models import Delivery, DistrictNode, Message

__all__ = ["LATENCY_BUCKETS", "WINDOW", "DatabaseMetrics"]

WINDOW = timedelta(hours=24)
# Seconds from a delivery's planning to its hand-over: an SMS of a large
# alert waits its turn for minutes, a board is reached in a second.
LATENCY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


def _gauge(name: str, documentation: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


@dataclass(frozen=True, slots=True)
class DatabaseMetrics:
    """Reads the database's metrics for ``channels`` (the configured ones, always listed)."""

    channels: Sequence[str]
    sms_routes: Sequence[str]
    window: timedelta = WINDOW

    def read(self, session: Session, now: datetime) -> list[Metric]:
        message_ids = list(session.scalars(
            select(Message.id).where(Message.created_at >= now - self.window)))
        by_status = self._by_status(session, message_ids)
        return [self._statuses(by_status), self._latency(session, message_ids),
                self._receipt_lag(by_status, now),
                *self._nodes(session, message_ids, now), *self._devices(session, now),
                *self._binds(session, now)]

    @staticmethod
    def _by_status(session: Session, message_ids: list[int]
                   ) -> dict[tuple[str, DeliveryStatus], tuple[int, datetime | None]]:
        """Per (channel, status): the deliveries, and the oldest hand-over among them.

        One pass over the window's deliveries serves both the counts and the receipt lag.
        """
        if not message_ids:
            return {}
        return {(channel, status): (count, oldest) for channel, status, count, oldest in
                session.execute(select(Delivery.channel, Delivery.status, func.count(),
                                       func.min(Delivery.sent_at))
                                .where(Delivery.message_id.in_(message_ids))
                                .group_by(Delivery.channel, Delivery.status))}

    def _statuses(self, by_status: dict[tuple[str, DeliveryStatus], tuple[int, datetime | None]]
                  ) -> Metric:
        counts = {(channel, status): 0 for channel in self.channels for status in DeliveryStatus}
        counts.update({key: count for key, (count, _oldest) in by_status.items()})
        family = _gauge("publisher_deliveries",
                        f"Deliveries of the messages issued in the last {self._window_text}, "
                        "by channel and status.", ["channel", "status"])
        for (channel, status), count in sorted(counts.items()):
            family.add_metric([channel, status.value], count)
        return family

    def _latency(self, session: Session, message_ids: list[int]) -> Metric:
        family = GaugeHistogramMetricFamily(
            "publisher_send_latency_seconds",
            "Seconds from a delivery's planning (fan-out) to its hand-over to the channel, "
            f"over the deliveries handed over of the messages issued in the last "
            f"{self._window_text}.", labels=["channel"])
        counts = {channel: [0] * (len(LATENCY_BUCKETS) + 1) for channel in self.channels}
        sums = dict.fromkeys(self.channels, 0.0)
        if message_ids:
            # Each row's latency computed once, then the index of its bucket: one CASE
            # a row, stopping at the first bound it fits, rather than a sum per bucket.
            latencies = select(Delivery.channel, _seconds_between(
                session.get_bind().dialect.name, Delivery.sent_at, Delivery.created_at
            ).label("seconds")).where(Delivery.message_id.in_(message_ids),
                                      Delivery.sent_at.is_not(None)).subquery()
            bucket = case(*((latencies.c.seconds <= bound, index)
                            for index, bound in enumerate(LATENCY_BUCKETS)),
                          else_=len(LATENCY_BUCKETS)).label("bucket")
            for channel, index, count, total in session.execute(
                    select(latencies.c.channel, bucket, func.count(),
                           func.sum(latencies.c.seconds))
                    .group_by(latencies.c.channel, bucket)):
                counts.setdefault(channel, [0] * (len(LATENCY_BUCKETS) + 1))[index] += count
                sums[channel] = sums.get(channel, 0.0) + float(total or 0)
        for channel in sorted(counts):
            cumulative = list(itertools.accumulate(counts[channel]))
            # str(1.0) == "1.0": the bounds as Prometheus' own histograms write them.
            buckets = [(str(bound), within)
                       for bound, within in zip(LATENCY_BUCKETS, cumulative, strict=False)]
            family.add_metric([channel], [*buckets, ("+Inf", cumulative[-1])], sums[channel])
        return family

    def _receipt_lag(self, by_status: dict[tuple[str, DeliveryStatus],
                                            tuple[int, datetime | None]],
                     now: datetime) -> Metric:
        # Handed over and not final: SENT is the one status that waits for a receipt.
        oldest = {channel: sent_at for (channel, status), (_count, sent_at) in by_status.items()
                  if status is DeliveryStatus.SENT and sent_at is not None}
        family = _gauge("publisher_receipt_lag_seconds",
                        "Age of the oldest delivery handed over and still waiting for its "
                        "receipt (0: none waits), per channel.", ["channel"])
        for channel in sorted({*self.channels, *oldest}):
            family.add_metric([channel], _age(oldest.get(channel), now))
        return family

    def _nodes(self, session: Session, message_ids: list[int], now: datetime) -> list[Metric]:
        oldest: dict[str, datetime | None] = {}
        if message_ids:
            # The district channel's deliveries only: the unique index's first two columns.
            oldest = {code: sent_at for code, sent_at in session.execute(
                select(DistrictNode.code, func.min(Delivery.sent_at))
                .join(Delivery, Delivery.target_id == DistrictNode.target_id)
                .where(Delivery.message_id.in_(message_ids),
                       Delivery.channel == DISTRICT_CHANNEL,
                       Delivery.status == DeliveryStatus.SENT)
                .group_by(DistrictNode.code))}
        ack_lag = _gauge("publisher_node_ack_lag_seconds",
                         "Age of the oldest message pushed to a district node and not yet "
                         "acked by it (0: none waits).", ["node"])
        silence = _gauge("publisher_node_silence_seconds",
                         "Seconds since the district node was last heard from (since it was "
                         "registered, when never).", ["node"])
        for code, last_heard_at, created_at in session.execute(
                select(DistrictNode.code, DistrictNode.last_heard_at, DistrictNode.created_at)
                .order_by(DistrictNode.code)):
            ack_lag.add_metric([code], _age(oldest.get(code), now))
            silence.add_metric([code], _age(last_heard_at or created_at, now))
        return [ack_lag, silence]

    @staticmethod
    def _devices(session: Session, now: datetime) -> list[Metric]:
        total = _gauge("publisher_devices", "Registered devices, per kind.", ["kind"])
        offline = _gauge("publisher_devices_offline",
                         "Devices silent longer than their heartbeat interval, per kind.",
                         ["kind"])
        for kind, health in health_by_kind(session, now, listed=0).items():
            total.add_metric([kind.value], health.total)
            offline.add_metric([kind.value], health.offline)
        return [total, offline]

    def _binds(self, session: Session, now: datetime) -> list[Metric]:
        reported = _gauge("publisher_smpp_route_reported",
                          "1 when an SMS worker reported the route's binds in the last "
                          f"{FRESH_SECONDS:g} s, 0 when none did (its bind counts are then "
                          "unknown).", ["route"])
        total = _gauge("publisher_smpp_binds", "SMPP binds of the route, across the SMS "
                       "workers' fresh reports.", ["route"])
        bound = _gauge("publisher_smpp_binds_bound", "SMPP binds of the route that are "
                       "bound, across the SMS workers' fresh reports.", ["route"])
        for route, binds in binds_by_route(session, self.sms_routes, now).items():
            reported.add_metric([route], 0 if binds is None else 1)
            if binds is not None:
                total.add_metric([route], binds.total)
                bound.add_metric([route], binds.bound)
        return [reported, total, bound]

    @property
    def _window_text(self) -> str:
        return f"{self.window.total_seconds() / 3600:g} h"


def _seconds_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    if dialect == "postgresql":
        # One extract of the interval costs half of two extracts of the times.
        return func.extract("epoch", later - earlier)
    return epoch_seconds(dialect, later) - epoch_seconds(dialect, earlier)


def _age(since: datetime | None, now: datetime) -> float:
    return 0.0 if since is None else max(0.0, (now - since).total_seconds())
