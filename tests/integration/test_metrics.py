"""The metrics read from the database at scrape time, on SQLite and PostgreSQL.

One scene: a recent message with deliveries on two channels in every
state of interest, a district node waiting to ack, an old message outside
the window, devices on and off line, and the SMS workers' bind reports.
The metrics are read through a Prometheus registry and its text format, as
a scrape reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.base import DeliveryStatus
from publisher.observability.collector import PlatformCollector
from publisher.observability.database_metrics import DatabaseMetrics
from publisher.services.sms_bind_states import FRESH_SECONDS
from publisher.store.models import (
    Delivery,
    Device,
    DeviceKind,
    DistrictNode,
    Message,
    SmsBindState,
    Target,
    User,
    utcnow,
)
from tests.integration.fanout_support import publish

Factory = sessionmaker[Session]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _target(session: Session, channel: str, address: str) -> int:
    target = Target(channel=channel, address=address, district_code="110105", is_test=True)
    session.add(target)
    session.flush()
    return target.id


def _delivery(session: Session, message: Message, channel: str, status: DeliveryStatus,
              created: datetime, sent: datetime | None = None,
              target_id: int | None = None) -> None:
    target_id = target_id or _target(session, channel, f"{channel}-{status}-{created}")
    session.add(Delivery(message_id=message.id, channel=channel, target_id=target_id,
                         status=status, created_at=created, sent_at=sent))


def _node(session: Session, code: str, last_heard: datetime) -> DistrictNode:
    user = User(username=f"node-{code}", password_hash="no-login", active=False)
    session.add(user)
    session.flush()
    node = DistrictNode(code=code, name=code, target_id=_target(session, "district", code),
                        user_id=user.id, credential_sha256=f"{code:0>64}",
                        certificate_pem="not used here", last_heard_at=last_heard)
    session.add(node)
    session.flush()
    return node


def _device(session: Session, kind: DeviceKind, device_id: str, now: datetime, *,
            seen: bool) -> None:
    session.add(Device(device_id=device_id, kind=kind, heartbeat_interval=60,
                       target_id=_target(session, kind.channel, device_id),
                       created_at=now - timedelta(hours=1),
                       last_seen_at=now - timedelta(seconds=5) if seen else None))


@dataclass(frozen=True)
class Scene:
    now: datetime


@pytest.fixture
def scene(session_factory: Factory) -> Scene:
    now = utcnow()
    with session_factory() as session:
        recent = publish(session)
        # An earlier message of the alert, issued two days ago.
        old = Message(alert_id=recent.alert_id, identifier=f"{recent.identifier}-earlier",
                      sender=recent.sender, sent=now - timedelta(days=2), msg_type="Alert",
                      status=recent.status, xml=b"<alert/>", sha256="0" * 64,
                      created_at=now - timedelta(days=2))
        session.add(old)
        session.flush()
        _delivery(session, old, "memory", DeliveryStatus.FAILED, now - timedelta(days=2))
        # memory: handed over after 2 s and 55 s (clear of the 60 s bucket's edge, which
        # SQLite's day-fraction arithmetic may land either side of); the second waits for
        # its receipt for 40 s.
        _delivery(session, recent, "memory", DeliveryStatus.DELIVERED,
                  now - timedelta(seconds=10), now - timedelta(seconds=8))
        _delivery(session, recent, "memory", DeliveryStatus.SENT,
                  now - timedelta(seconds=95), now - timedelta(seconds=40))
        _delivery(session, recent, "memory", DeliveryStatus.QUEUED, now - timedelta(seconds=3))
        # district: pushed 25 s ago to a node heard from 12 s ago, not acked yet.
        node = _node(session, "110105", now - timedelta(seconds=12))
        _delivery(session, recent, "district", DeliveryStatus.SENT, now - timedelta(seconds=26),
                  now - timedelta(seconds=25), target_id=node.target_id)
        _node(session, "110108", now - timedelta(seconds=3))
        _device(session, DeviceKind.LED, "led-on", now, seen=True)
        _device(session, DeviceKind.LED, "led-off", now, seen=False)
        _device(session, DeviceKind.SPEAKER, "speaker-off", now, seen=False)
        session.execute(insert(SmsBindState), [
            {"host": "w1", "pid": 1, "route": "primary", "bind_index": index, "state": state,
             "updated_at": now - timedelta(seconds=2)}
            for index, state in enumerate(["bound", "bound", "closed"])] + [
            {"host": "w1", "pid": 1, "route": "gone", "bind_index": 0, "state": "bound",
             "updated_at": now - timedelta(seconds=FRESH_SECONDS + 5)}])
        session.commit()
    return Scene(now)


def _scrape(session_factory: Factory, now: datetime, depths: Iterator[dict[str, int]] | None = None
            ) -> Samples:
    registry = CollectorRegistry()
    database = DatabaseMetrics(channels=("memory", "sms", "district"),
                               sms_routes=("primary", "backup"))
    depths = depths or iter([{"fanout": 3, "channel.sms": 0}])
    registry.register(PlatformCollector(session_factory, database, lambda: next(depths),
                                        clock=lambda: now))
    text = generate_latest(registry).decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_deliveries_by_channel_and_status_of_the_window_only(session_factory: Factory,
                                                             scene: Scene) -> None:
    samples = _scrape(session_factory, scene.now)
    counts = {status.value: _value(samples, "publisher_deliveries", channel="memory",
                                   status=status.value) for status in DeliveryStatus}
    # The old message's failed delivery is outside the 24 h window.
    assert counts == {"pending": 0, "queued": 1, "sending": 0, "sent": 1, "delivered": 1,
                      "failed": 0, "expired": 0, "skipped": 0}
    # A configured channel with nothing yet is listed, at zero.
    assert all(_value(samples, "publisher_deliveries", channel="sms", status=status.value) == 0
               for status in DeliveryStatus)
    assert _value(samples, "publisher_deliveries", channel="district", status="sent") == 1


def test_send_latency_histogram_per_channel(session_factory: Factory, scene: Scene) -> None:
    samples = _scrape(session_factory, scene.now)

    def bucket(bound: str) -> float:
        return _value(samples, "publisher_send_latency_seconds_bucket", channel="memory",
                      le=bound)

    assert (bucket("1.0"), bucket("2.5"), bucket("30.0"), bucket("60.0"), bucket("+Inf")) \
        == (0, 1, 1, 2, 2)
    assert _value(samples, "publisher_send_latency_seconds_gcount", channel="memory") == 2
    assert _value(samples, "publisher_send_latency_seconds_gsum", channel="memory") \
        == pytest.approx(57, abs=0.05)
    assert _value(samples, "publisher_send_latency_seconds_bucket", channel="sms",
                  le="+Inf") == 0


def test_receipt_and_node_ack_lag(session_factory: Factory, scene: Scene) -> None:
    samples = _scrape(session_factory, scene.now)
    assert _value(samples, "publisher_receipt_lag_seconds", channel="memory") \
        == pytest.approx(40, abs=0.05)
    assert _value(samples, "publisher_receipt_lag_seconds", channel="sms") == 0
    assert _value(samples, "publisher_node_ack_lag_seconds", node="110105") \
        == pytest.approx(25, abs=0.05)
    assert _value(samples, "publisher_node_ack_lag_seconds", node="110108") == 0
    assert _value(samples, "publisher_node_silence_seconds", node="110105") \
        == pytest.approx(12, abs=0.05)


def test_devices_binds_queues_and_sources(session_factory: Factory, scene: Scene) -> None:
    samples = _scrape(session_factory, scene.now)
    assert (_value(samples, "publisher_devices", kind="led"),
            _value(samples, "publisher_devices_offline", kind="led"),
            _value(samples, "publisher_devices_offline", kind="speaker"),
            _value(samples, "publisher_devices", kind="terminal")) == (2, 1, 1, 0)
    assert (_value(samples, "publisher_smpp_binds", route="primary"),
            _value(samples, "publisher_smpp_binds_bound", route="primary"),
            _value(samples, "publisher_smpp_route_reported", route="primary")) == (3, 2, 1)
    # Configured, with no fresh report: unknown, so no bind counts at all.
    assert _value(samples, "publisher_smpp_route_reported", route="backup") == 0
    assert ("publisher_smpp_binds", (("route", "backup"),)) not in samples
    assert ("publisher_smpp_route_reported", (("route", "gone"),)) not in samples
    assert _value(samples, "publisher_queue_messages", queue="fanout") == 3
    assert _value(samples, "publisher_metrics_source_up", source="database") == 1
    assert _value(samples, "publisher_metrics_source_up", source="broker") == 1


def test_a_broker_that_cannot_be_read_leaves_the_database_metrics(session_factory: Factory,
                                                                  scene: Scene) -> None:
    def refused() -> Iterator[dict[str, int]]:
        raise ConnectionRefusedError("broker down")
        yield {}

    samples = _scrape(session_factory, scene.now, refused())
    assert _value(samples, "publisher_metrics_source_up", source="broker") == 0
    assert _value(samples, "publisher_metrics_source_up", source="database") == 1
    assert _value(samples, "publisher_deliveries", channel="memory", status="sent") == 1


def test_a_scrape_within_the_cache_time_reads_nothing_again(session_factory: Factory,
                                                            scene: Scene) -> None:
    reads: list[int] = []

    def depths() -> dict[str, int]:
        reads.append(1)
        return {"fanout": len(reads)}

    registry = CollectorRegistry()
    registry.register(PlatformCollector(session_factory, DatabaseMetrics(("memory",), ()),
                                        depths, clock=lambda: scene.now))
    first, second = generate_latest(registry), generate_latest(registry)
    assert first == second and len(reads) == 1
