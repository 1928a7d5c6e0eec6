"""``POST /api/eew`` with MQTT terminals: the web process publishes to them itself, while the
message commits and before any delivery row, and answers with what it published."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from publisher.cap.districts import load_districts
from publisher.cap.eew import Quake
from publisher.cap.model import Status
from publisher.channels.mqtt_client import BrokerOptions, Received
from publisher.channels.mqtt_protocol import alert_topic, topic_key
from publisher.config import Settings
from publisher.services import audit
from publisher.services.actors import Actor
from publisher.services.device_import import import_device_list
from publisher.services.district_names import DistrictNames
from publisher.services.eew import EEW_PUBLISH
from publisher.services.eew_journal import JOURNAL_DIRECTORY, EewJournal, JournalEntry
from publisher.services.eew_recovery import recover_journal
from publisher.sim.eew_sender import build_eew_alert, sender_identity
from publisher.sim.terminal import place_terminals
from publisher.store.db import session_scope
from publisher.store.models import AuditEntry, Delivery, Message
from publisher.web.context import SIGNER
from publisher.web.eew import EEW_JOURNAL, EEW_TERMINALS
from tests.channels.device_support import CONFIG_DISTRICTS, districts
from tests.channels.mqtt_support import (
    DEADLINE,
    TopicRecorder,
    ack_client_id,
    broker,
    retained_cleared,
)
from tests.integration.api_client import Api
from tests.services import fresh_installation

__all__ = ["ack_client_id", "broker"]

pytestmark = pytest.mark.asyncio

CAP = "application/cap+xml"
CHAOYANG_SCHOOL = ("110105", "school", True)


@pytest.fixture
def api_settings(tmp_path: Path, _migrated_sqlite_template: Path, broker: BrokerOptions,
                 ack_client_id: str) -> Settings:
    settings = fresh_installation(tmp_path, _migrated_sqlite_template)
    return replace(settings, channels=(*settings.channels, "mqtt"), channel_options={
        **settings.channel_options,
        "mqtt": {"host": broker.host, "port": broker.port, "ack_client_id": ack_client_id}})


def ours(recorder: TopicRecorder, identifier: str) -> list[Received]:
    """What was published for ``identifier`` (the shared broker holds other runs' retained
    alerts; the clearing after the test is an empty payload)."""
    return [received for received in recorder.received
            if received.topic.endswith(f"/{topic_key(identifier)}") and received.payload]


async def connected(api: Api) -> None:
    fast_path = api.client.server.app[EEW_TERMINALS]
    for _ in range(int(DEADLINE / 0.05)):
        if fast_path.connected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the fast path did not connect to the broker")


async def one_terminal(api: Api, api_settings: Settings) -> bytes:
    """A Chaoyang school terminal registered and the fast path connected; a signed warning."""
    [terminal] = place_terminals(1, districts("110105"), ["school"], seed=3, is_test=True)
    with session_scope(api.sessions) as session:
        report = import_device_list(session, [terminal.entry()],
                                    DistrictNames(load_districts(CONFIG_DISTRICTS)))
        assert report.errors == []
    await connected(api)
    return sender_identity(api_settings.paths.data_dir).sign(
        build_eew_alert(Quake(40.3, 116.2, 6.1), status=Status.EXERCISE))


@contextlib.asynccontextmanager
async def published_to_one_group(api: Api, broker: BrokerOptions, recorder: TopicRecorder,
                                 signed: bytes) -> AsyncIterator[dict[str, Any]]:
    """The warning posted while ``recorder`` listens: its answer (201, the Chaoyang school
    group published, the broker's PUBACKs in before it); the group's topics cleared after."""
    with recorder.listening():
        reply = await api.call("POST", "/api/eew", data=signed, content_type=CAP)
        assert reply.status == 201, reply.body
        with retained_cleared(broker, [CHAOYANG_SCHOOL], [reply.body["message"]["identifier"]]):
            assert reply.body["terminal_groups_published"] == 1
            yield reply.body


async def test_the_web_process_publishes_to_the_terminals_before_any_delivery_row(
        api: Api, api_settings: Settings, broker: BrokerOptions) -> None:
    signed = await one_terminal(api, api_settings)
    recorder = TopicRecorder(broker, "alerts-test/110105/school/+/+")
    async with published_to_one_group(api, broker, recorder, signed) as answer:
        identifier = answer["message"]["identifier"]
        assert set(answer["timings"]) >= {"plan_terminals_ms", "terminals_started_ms",
                                          "terminals_ms"}
        for _ in range(int(DEADLINE / 0.05)):
            if len(ours(recorder, identifier)) >= 2:
                break
            await asyncio.sleep(0.05)
    by_topic = {received.topic: received for received in ours(recorder, identifier)}
    assert set(by_topic) == {alert_topic("110105", "school", form, identifier, test=True)
                             for form in ("cap", "json")}
    compact = json.loads(by_topic[alert_topic("110105", "school", "json", identifier,
                                              test=True)].payload)
    # Chaoyang's own countdown, which the center's message leaves out of its headline.
    assert compact["info"][0]["headline"].endswith("秒后到达")
    with session_scope(api.sessions) as session:
        rows = session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.message_id == answer["message"]["id"]))
    # No worker runs here: the terminals were reached before any bookkeeping.
    assert rows == 0


async def journalled(api_settings: Settings) -> JournalEntry:
    """The one warning in the installation's journal, once it is there."""
    journal = EewJournal(api_settings.paths.data_dir / JOURNAL_DIRECTORY)
    for _ in range(int(DEADLINE / 0.01)):
        entries = journal.entries()
        if entries:
            [entry] = entries
            return entry
        await asyncio.sleep(0.01)
    raise AssertionError("nothing was journalled")


async def reached(recorder: TopicRecorder, xml: bytes) -> None:
    """Until the terminals' topics carry exactly ``xml`` (tests on other databases publish
    the same identifiers in the same second, signed by other keys)."""
    for _ in range(int(DEADLINE / 0.01)):
        if any(received.payload == xml for received in list(recorder.received)):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the journalled warning did not reach the terminals' topics")


def stored(api: Api, identifier: str) -> int:
    with session_scope(api.sessions) as session:
        return session.scalar(select(func.count()).select_from(Message).where(
            Message.identifier == identifier)) or 0


async def test_the_terminals_have_it_while_its_transaction_is_still_open(
        api: Api, api_settings: Settings, broker: BrokerOptions,
        monkeypatch: pytest.MonkeyPatch) -> None:
    signed = await one_terminal(api, api_settings)
    recorded, released = audit.record, threading.Event()

    def record_once_released(session: Session, actor: Actor, action: str,
                             **details: Any) -> AuditEntry:
        if action == EEW_PUBLISH:  # the transaction's last step before its commit
            assert released.wait(DEADLINE)
        return recorded(session, actor, action, **details)

    monkeypatch.setattr(audit, "record", record_once_released)
    recorder = TopicRecorder(broker, "alerts-test/110105/school/+/+")
    with recorder.listening():
        posting = asyncio.create_task(api.call("POST", "/api/eew", data=signed,
                                               content_type=CAP))
        entry = await journalled(api_settings)
        identifier = entry.identifier
        with retained_cleared(broker, [CHAOYANG_SCHOOL], [identifier]):
            await reached(recorder, entry.xml)
            assert stored(api, identifier) == 0
            released.set()
            reply = await posting
            assert reply.status == 201, reply.body
    assert reply.body["message"]["identifier"] == identifier
    assert stored(api, identifier) == 1
    assert list((api_settings.paths.data_dir / JOURNAL_DIRECTORY).iterdir()) == []


async def test_a_warning_published_but_not_committed_is_stored_from_the_journal(
        api: Api, api_settings: Settings, broker: BrokerOptions,
        monkeypatch: pytest.MonkeyPatch) -> None:
    signed = await one_terminal(api, api_settings)
    recorded = audit.record

    def failing_at_the_end(session: Session, actor: Actor, action: str,
                           **details: Any) -> AuditEntry:
        if action == EEW_PUBLISH:
            raise OperationalError("INSERT", {}, Exception("the database went away"))
        return recorded(session, actor, action, **details)

    monkeypatch.setattr(audit, "record", failing_at_the_end)
    recorder = TopicRecorder(broker, "alerts-test/110105/school/+/+")
    with recorder.listening():
        reply = await api.call("POST", "/api/eew", data=signed, content_type=CAP)
        assert reply.status == 202, reply.body
        identifier = reply.body["identifier"]
        with retained_cleared(broker, [CHAOYANG_SCHOOL], [identifier]):
            entry = await journalled(api_settings)
            await reached(recorder, entry.xml)
    # Sent once: the sender must not send it again for a second warning.
    assert reply.body["stored"] is False
    assert stored(api, identifier) == 0
    monkeypatch.setattr(audit, "record", recorded)

    app = api.client.server.app
    [recovered] = recover_journal(api.sessions, app[EEW_JOURNAL], app[SIGNER], older_than=0)

    assert (recovered.identifier, recovered.outcome) == (identifier, "stored")
    with session_scope(api.sessions) as session:
        message = session.scalars(select(Message).where(
            Message.identifier == identifier)).one()
        assert message.xml == entry.xml


async def test_a_journal_that_cannot_be_written_leaves_the_terminals_to_the_commit(
        api: Api, api_settings: Settings, broker: BrokerOptions,
        caplog: pytest.LogCaptureFixture) -> None:
    signed = await one_terminal(api, api_settings)
    # A file where the journal's directory should be: no entry can be written.
    (api_settings.paths.data_dir / JOURNAL_DIRECTORY).write_bytes(b"")
    recorder = TopicRecorder(broker, "alerts-test/110105/school/cap/+")
    async with published_to_one_group(api, broker, recorder, signed) as answer:
        assert "journal_ms" not in answer["timings"]
        with session_scope(api.sessions) as session:
            xml = session.scalars(select(Message.xml).where(
                Message.identifier == answer["message"]["identifier"])).one()
        await reached(recorder, xml)
    assert "early-warning journal not written" in caplog.text


async def test_terminals_that_cannot_be_found_from_the_web_are_left_to_the_lane(
        api: Api, api_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    signed = await one_terminal(api, api_settings)
    fast_path = api.client.server.app[EEW_TERMINALS]

    def index_unreadable(_alert: object) -> None:
        raise OperationalError("SELECT", {}, Exception("the database went away"))

    monkeypatch.setattr(fast_path, "groups_of", index_unreadable)
    reply = await api.call("POST", "/api/eew", data=signed, content_type=CAP)
    # Published all the same: nothing from the web process, everything by the lane.
    assert reply.status == 201, reply.body
    assert reply.body["terminal_groups_published"] == 0
    assert reply.body["fanout"] in {"lane", "deferred"}
    assert EewJournal(api_settings.paths.data_dir / JOURNAL_DIRECTORY).counts() == (0, 0)
