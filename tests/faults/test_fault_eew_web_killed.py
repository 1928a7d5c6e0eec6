"""``kill -9`` of the web process after the terminals got an early warning and before its
transaction committed: started again, the web process stores it from the journal.

The center is ``publisher web`` with the MQTT channel on this machine's Mosquitto, one
test terminal registered (a Chaoyang school). The case holds the transaction between the
publication and the commit with a lock on the outbox table (its row is written after the
terminals' publication starts), kills the process there, and starts it again.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

from sqlalchemy import func, select, text

from publisher.cap.districts import load_districts
from publisher.cap.eew import Quake
from publisher.cap.model import Status
from publisher.channels.mqtt_client import BrokerOptions
from publisher.local_ports import free_port
from publisher.services.device_import import import_device_list
from publisher.services.district_names import DistrictNames
from publisher.services.eew import EEW_PUBLISH
from publisher.services.eew_journal import JOURNAL_DIRECTORY, EewJournal, JournalEntry
from publisher.sim.eew_sender import build_eew_alert, sender_identity
from publisher.sim.terminal import place_terminals
from publisher.store.db import make_engine, session_scope
from publisher.store.models import AuditEntry, Message, OutboxEntry
from tests.channels.device_support import CONFIG_DISTRICTS, districts
from tests.channels.mqtt_support import (
    TopicRecorder,
    ack_client_id,
    broker,
    eventually,
    retained_cleared,
)
from tests.e2e.worker_support import kill_hard, stop
from tests.faults.case_support import installation
from tests.faults.installation import FaultInstallation, answers

__all__ = ["ack_client_id", "broker", "installation"]

CHAOYANG_SCHOOL = ("110105", "school", True)
START_SECONDS = 90.0
# The journal's entries are stored once 10 s old, in rounds every 5 s.
STORED_SECONDS = 60.0


def _fast_path_connected(installation: FaultInstallation, name: str) -> bool:
    return installation.worker_log(name).count("-eew-") >= 4


def _post(url: str, signed: bytes, replies: list[object]) -> None:
    request = urllib.request.Request(url, data=signed, method="POST",
                                     headers={"Content-Type": "application/cap+xml"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            replies.append(json.loads(answer.read()))
    except OSError as error:  # the process was killed under the request
        replies.append(error)


def test_web_killed_between_the_terminals_and_the_commit(
        installation: FaultInstallation, broker: BrokerOptions, ack_client_id: str,
        tmp_path: Path) -> None:
    installation.configure(["mqtt"], {"mqtt": {"host": broker.host, "port": broker.port,
                                               "ack_client_id": ack_client_id}}, batch_size=100)
    factory = installation.session_factory
    [terminal] = place_terminals(1, districts("110105"), ["school"], seed=5, is_test=True)
    with session_scope(factory) as session:
        assert import_device_list(session, [terminal.entry()],
                                  DistrictNames(load_districts(CONFIG_DISTRICTS))).errors == []
    signed = sender_identity(installation.directory).sign(
        build_eew_alert(Quake(40.3, 116.2, 6.1), status=Status.EXERCISE))
    port = free_port()
    web_arguments = ("web", "--host", "127.0.0.1", "--port", str(port))
    web = installation.start("web", *web_arguments)
    installation.wait(lambda: answers(f"http://127.0.0.1:{port}/health")
                      and _fast_path_connected(installation, "web"),
                      START_SECONDS, "the web process answering, its fast path connected")
    journal = EewJournal(installation.directory / JOURNAL_DIRECTORY)
    recorder = TopicRecorder(broker, "alerts-test/110105/school/cap/+")
    engine = make_engine(installation.database_url)
    replies: list[object] = []
    entry: JournalEntry | None = None
    try:
        with recorder.listening():
            with engine.connect() as holder:
                holder.execute(text("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE"))
                posting = threading.Thread(
                    target=_post, args=(f"http://127.0.0.1:{port}/api/eew", signed, replies))
                posting.start()
                [entry] = eventually(journal.entries, "the warning in the journal")
                eventually(lambda: any(received.payload == entry.xml
                                       for received in list(recorder.received)),
                           "the warning at the terminal's topic")
                kill_hard(web)
                holder.rollback()
            posting.join(timeout=30)
            assert replies and isinstance(replies[0], OSError), replies
            with factory() as session:
                assert session.scalar(select(func.count()).select_from(Message)) == 0

            web = installation.start("web-again", *web_arguments)
            installation.wait(lambda: journal.entries() == [], STORED_SECONDS,
                              "the journal's warning stored")
    finally:
        stop(web)
        engine.dispose()
        if entry is not None:
            with retained_cleared(broker, [CHAOYANG_SCHOOL], [entry.identifier]):
                pass

    with factory() as session:
        message = session.scalars(select(Message)).one()
        # Stored byte for byte as the terminal got it, once, with its outbox row.
        assert (message.identifier, message.xml) == (entry.identifier, entry.xml)
        assert session.scalar(select(func.count()).select_from(OutboxEntry).where(
            OutboxEntry.message_id == message.id)) == 1
        published = session.scalars(select(AuditEntry).where(
            AuditEntry.action == EEW_PUBLISH)).one()
    assert published.detail["recovered"] == "stored"
    assert "early warning stored from the journal" in installation.worker_log("web-again")
