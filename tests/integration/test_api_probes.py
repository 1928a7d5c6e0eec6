"""``/metrics``, ``/health/live`` and ``/health/ready``, as Prometheus and a load balancer ask."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from aiohttp.test_utils import TestClient
from kombu import Connection, Exchange, Queue
from prometheus_client.parser import text_string_to_metric_families

from publisher.observability.broker_queues import queue_depths
from publisher.services.eew_journal import JOURNAL_DIRECTORY, EewJournal, JournalEntry
from publisher.web.app import create_app
from tests.services import POSTGRES_HOST, POSTGRES_PORT, installation_with

# Nothing listens on port 1: the connection is refused at once.
DEAD_BROKER = "amqp://guest:guest@127.0.0.1:1//"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


@pytest.mark.asyncio
async def test_metrics_of_an_embedded_installation(aiohttp_client, tmp_path: Path) -> None:
    client: TestClient = await aiohttp_client(create_app(installation_with(tmp_path)))
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = _samples(await response.text())
    assert samples[("publisher_metrics_source_up", (("source", "database"),))] == 1
    assert samples[("publisher_metrics_source_up", (("source", "broker"),))] == 1
    # The embedded broker's queues, read from its SQLite tables.
    assert samples[("publisher_queue_messages", (("queue", "fanout"),))] == 0
    assert samples[("publisher_deliveries", (("channel", "memory"), ("status", "sent")))] == 0
    assert ("process_resident_memory_bytes", ()) in samples
    assert samples[("publisher_eew_journal_entries", (("state", "waiting"),))] == 0


@pytest.mark.asyncio
async def test_a_warning_left_in_the_journal_shows_in_the_metrics(aiohttp_client,
                                                                  tmp_path: Path) -> None:
    journal = EewJournal(tmp_path / JOURNAL_DIRECTORY)
    journal.write(JournalEntry("110000-YJZX-20261129130000-0001", b"<alert/>", "eew:eew@x.cn",
                               "EEW", "EEW-1", "2026-11-29T13:00:00+08:00", 6.1, (40.3, 116.2)))
    (tmp_path / JOURNAL_DIRECTORY / "damaged.json.unreadable").write_bytes(b"{")
    client: TestClient = await aiohttp_client(create_app(installation_with(tmp_path)))
    samples = _samples(await (await client.get("/metrics")).text())
    assert samples[("publisher_eew_journal_entries", (("state", "waiting"),))] == 1
    assert samples[("publisher_eew_journal_entries", (("state", "unreadable"),))] == 1


@pytest.mark.asyncio
async def test_with_the_broker_down_metrics_still_answer_and_ready_fails(
        aiohttp_client, tmp_path: Path) -> None:
    client: TestClient = await aiohttp_client(
        create_app(installation_with(tmp_path, broker_url=DEAD_BROKER)))
    metrics = _samples(await (await client.get("/metrics")).text())
    assert metrics[("publisher_metrics_source_up", (("source", "broker"),))] == 0
    assert metrics[("publisher_metrics_source_up", (("source", "database"),))] == 1
    ready = await client.get("/health/ready")
    assert ready.status == 503
    report = await ready.json()
    assert report["status"] == "failing" and report["database"]["ok"] is True
    assert report["broker"]["ok"] is False and "guest:guest" not in report["broker"]["detail"]
    live = await client.get("/health/live")
    assert live.status == 200 and await live.json() == {"status": "ok"}


@pytest.mark.asyncio
async def test_ready_ignores_a_channel_that_fails_the_detailed_report(
        aiohttp_client, tmp_path: Path) -> None:
    client: TestClient = await aiohttp_client(
        create_app(installation_with(tmp_path, channels=("memroy",))))
    assert (await client.get("/health")).status == 503
    ready = await client.get("/health/ready")
    assert ready.status == 200
    report = await ready.json()
    assert set(report) == {"status", "database", "broker"} and report["status"] == "ok"
    assert report["database"] == {"ok": True, "detail": "sqlite"} and report["broker"]["ok"]


@pytest.mark.asyncio
async def test_ready_fails_when_the_database_goes_away(aiohttp_client, tmp_path: Path,
                                                       postgres_url: str) -> None:
    admin = f"host={POSTGRES_HOST} port={POSTGRES_PORT} user=postgres dbname=test"
    database = f"publisher_ready_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    try:
        url = postgres_url.rsplit("/", 1)[0] + f"/{database}"
        client: TestClient = await aiohttp_client(create_app(
            installation_with(tmp_path, database_url=url)))
        assert (await client.get("/health/ready")).status == 200
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        ready = await client.get("/health/ready")
        assert ready.status == 503
        assert (await ready.json())["database"]["ok"] is False
        assert (await client.get("/health/live")).status == 200
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_queue_depths_on_rabbitmq(rabbitmq_url: str) -> None:
    name = f"depth-{uuid.uuid4().hex[:10]}"
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name, auto_delete=False)
    with Connection(rabbitmq_url) as connection, connection.Producer() as producer:
        for number in range(3):
            producer.publish({"n": number}, exchange=queue.exchange, routing_key=name,
                             declare=[queue])
    try:
        depths = queue_depths(lambda: Connection(rabbitmq_url, connect_timeout=10),
                              [name, f"{name}-never-declared"])
        assert depths == {name: 3}
    finally:
        with Connection(rabbitmq_url) as connection:
            queue.bind(connection).delete()
