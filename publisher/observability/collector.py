"""The Prometheus collector of the platform: the database's metrics and the broker's queues.

Each part is read on its own: a broker that is down leaves the database's
metrics standing, and ``publisher_metrics_source_up`` says which part could
not be read. A scrape's result is kept ``CACHE_SECONDS``, so that several
Prometheus servers scraping the same web application cost one reading.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from publisher.observability.database_metrics import DatabaseMetrics
from publisher.store.models import utcnow

__all__ = ["CACHE_SECONDS", "PlatformCollector"]

log = logging.getLogger(__name__)

CACHE_SECONDS = 10.0


class PlatformCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session], database: DatabaseMetrics,
                 queue_depths: Callable[[], Mapping[str, int]], *,
                 cache_seconds: float = CACHE_SECONDS,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._database = database
        self._queue_depths = queue_depths
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._read_at = -float("inf")
        self._metrics: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if time.monotonic() - self._read_at >= self._cache_seconds:
                self._metrics = self._read()
                self._read_at = time.monotonic()
            metrics = self._metrics
        yield from metrics

    def _read(self) -> list[Metric]:
        up = GaugeMetricFamily("publisher_metrics_source_up",
                               "1 when the source could be read for this scrape, 0 when not.",
                               labels=["source"])
        metrics: list[Metric] = []
        try:
            with self._sessions() as session:
                metrics += self._database.read(session, self._clock())
            up.add_metric(["database"], 1)
        except Exception as error:  # the broker's part is still worth a scrape
            log.warning("metrics: the database could not be read", extra={"error": str(error)})
            up.add_metric(["database"], 0)
        depth = GaugeMetricFamily("publisher_queue_messages",
                                  "Tasks waiting in the broker's queue, not yet taken by a "
                                  "worker.", labels=["queue"])
        try:
            for queue, count in sorted(self._queue_depths().items()):
                depth.add_metric([queue], count)
            up.add_metric(["broker"], 1)
        except Exception as error:  # the database's part is still worth a scrape
            log.warning("metrics: the broker could not be read", extra={"error": str(error)})
            up.add_metric(["broker"], 0)
        return [*metrics, depth, up]
