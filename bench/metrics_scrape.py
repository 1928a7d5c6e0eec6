"""What one ``/metrics`` scrape costs the database, against reading the window's rows once.

One published message of the last hour has N deliveries on the sms channel,
a quarter each delivered, sent (waiting for its receipt), queued and failed,
handed over 0 to 50 s after planning; an older message (two days) has as
many again, outside the window.

- ours: ``DatabaseMetrics.read`` -- every database metric of a scrape
  (deliveries by status, the send-latency histogram, receipt and node-ack
  lag, devices, binds);
- limit: ``SELECT count(*)`` of the same window's deliveries -- the least a
  query that reads those rows at all costs.

Each contender runs ``--runs`` times in turn, in one process, against the
same database; the medians and their ratio are printed with the core count.

    python -m bench.metrics_scrape [--deliveries 200000] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench.fanout_planning import add_targets, city_area, publish_message, scratch_database
from publisher.channels.base import DeliveryStatus
from publisher.observability.database_metrics import WINDOW, DatabaseMetrics
from publisher.store.db import make_engine, make_session_factory
from publisher.store.models import Delivery, Message, utcnow

__all__ = ["main"]

_STATUSES = (DeliveryStatus.DELIVERED, DeliveryStatus.SENT, DeliveryStatus.QUEUED,
             DeliveryStatus.FAILED)
_CHUNK = 20_000


def _deliveries(sessions: sessionmaker[Session], message_id: int, first_target: int,
                count: int, planned_ago: timedelta) -> None:
    planned = utcnow() - planned_ago
    with sessions() as session:
        for start in range(0, count, _CHUNK):
            session.execute(insert(Delivery), [
                {"message_id": message_id, "channel": "sms", "target_id": first_target + index,
                 "status": _STATUSES[index % len(_STATUSES)], "created_at": planned,
                 "sent_at": None if index % 4 == 2 else planned + timedelta(seconds=index % 50)}
                for index in range(start, min(start + _CHUNK, count))])
        session.commit()
        session.execute(text("ANALYZE"))
        session.commit()


def _median_seconds(run: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=7)
    arguments = parser.parse_args()
    with scratch_database() as url:
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        first, _last = add_targets(url, arguments.deliveries)
        with sessions() as session:
            old = publish_message(session, areas=city_area(), sequence=1)
            recent = publish_message(session, areas=city_area(), sequence=2)
        _deliveries(sessions, old, first, arguments.deliveries, timedelta(days=2))
        with sessions() as session:
            # The older message was issued before the window (a row cannot be changed).
            session.execute(text("ALTER TABLE messages DISABLE TRIGGER USER"))
            session.execute(text("UPDATE messages SET created_at = now() - interval '2 days'"
                                 " WHERE id = :id"), {"id": old})
            session.execute(text("ALTER TABLE messages ENABLE TRIGGER USER"))
            session.commit()
        _deliveries(sessions, recent, first, arguments.deliveries, timedelta(minutes=10))
        metrics = DatabaseMetrics(channels=("sms",), sms_routes=())

        def ours() -> object:
            with sessions() as session:
                return metrics.read(session, utcnow())

        def limit() -> object:
            with sessions() as session:
                window = select(Message.id).where(Message.created_at >= utcnow() - WINDOW)
                return session.scalar(select(func.count()).select_from(Delivery)
                                      .where(Delivery.message_id.in_(window)))

        ours(), limit()  # warm the caches of both
        ours_seconds = _median_seconds(ours, arguments.runs)
        limit_seconds = _median_seconds(limit, arguments.runs)
        engine.dispose()
    print(f"deliveries in the window: {arguments.deliveries:,} (and as many outside it)")
    print(f"ours  (DatabaseMetrics.read): median {ours_seconds * 1000:.0f} ms"
          f" of {arguments.runs} runs")
    print(f"limit (count of the window):  median {limit_seconds * 1000:.0f} ms")
    print(f"ratio ours/limit: {ours_seconds / limit_seconds:.1f}; cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
