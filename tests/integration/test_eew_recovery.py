"""Early warnings the terminals got but the database never committed, stored from the journal."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import DistrictTable, load_districts
from publisher.cap.eew import Quake
from publisher.cap.model import Status
from publisher.config import Settings
from publisher.services.eew import EEW_PUBLISH, journal_entry, receive_eew
from publisher.services.eew_intake import AcceptedEew
from publisher.services.eew_journal import EewJournal, JournalEntry
from publisher.services.eew_policy import EEW_CONFIG_FILE, EewRegister
from publisher.services.eew_recovery import recover_journal
from publisher.services.publishing import SignedMessage
from publisher.services.signer import CenterSigner
from publisher.sim.eew_sender import build_eew_alert, sender_identity
from publisher.store.models import Alert, AlertState, AuditEntry, Message, OutboxEntry, User, utcnow

Factory = sessionmaker[Session]


@pytest.fixture
def register(center_settings: Settings) -> EewRegister:
    sender_identity(center_settings.paths.data_dir)
    return EewRegister(center_settings.paths.config_dir / EEW_CONFIG_FILE,
                       center_settings.paths.data_dir)


@pytest.fixture
def districts(center_settings: Settings) -> DistrictTable:
    return load_districts(center_settings.paths.districts_file)


class Published:
    """Posts early warnings as the route does, committing them or not."""

    def __init__(self, factory: Factory, settings: Settings, register: EewRegister,
                 signer: CenterSigner, districts: DistrictTable) -> None:
        self.factory, self.settings, self.register = factory, settings, register
        self.signer, self.districts = signer, districts
        self.timings: dict[str, float] = {}

    def __call__(self, *, commit: bool, now: datetime | None = None,
                 magnitude: float = 6.1) -> JournalEntry:
        xml = sender_identity(self.settings.paths.data_dir).sign(
            build_eew_alert(Quake(40.3, 116.2, magnitude), status=Status.EXERCISE))
        with self.factory() as session:
            outcome = receive_eew(session, xml, self.register, self.signer, self.districts,
                                  now=now, watcher=self)
            assert outcome.message is not None, outcome.refusal
            if commit:
                session.commit()
            else:
                session.rollback()
        return self.entry

    def judged(self, accepted: AcceptedEew) -> None:
        pass

    def signed(self, signed: SignedMessage, accepted: AcceptedEew) -> None:
        self.entry = journal_entry(signed.alert.identifier, signed.xml, accepted)


@pytest.fixture
def published(session_factory: Factory, center_settings: Settings, register: EewRegister,
              center_signer: CenterSigner, districts: DistrictTable) -> Published:
    return Published(session_factory, center_settings, register, center_signer, districts)


def count(factory: Factory, model: type) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_warning_whose_commit_failed_is_stored_as_it_was_published(
        session_factory: Factory, center_signer: CenterSigner, published: Published,
        tmp_path: Path) -> None:
    entry = published(commit=False)
    assert count(session_factory, Message) == 0
    journal = EewJournal(tmp_path)
    journal.write(entry)
    journal.settle(entry.identifier)

    [recovered] = recover_journal(session_factory, journal, center_signer, older_than=0)

    assert (recovered.identifier, recovered.outcome) == (entry.identifier, "stored")
    with session_factory() as session:
        message = session.get(Message, recovered.message_id)
        assert message is not None
        # Byte for byte what the terminals verified and acked.
        assert (message.identifier, message.xml) == (entry.identifier, entry.xml)
        assert message.alert.state == AlertState.PUBLISHED
        author = session.get(User, message.alert.author_id)
        assert author is not None and author.username == entry.sender_actor
        assert session.scalar(select(func.count()).select_from(OutboxEntry).where(
            OutboxEntry.message_id == message.id)) == 1
        audited = session.scalars(select(AuditEntry).where(
            AuditEntry.action == EEW_PUBLISH)).one()
    assert audited.detail["recovered"] == "stored"
    assert (audited.detail["origin"], audited.detail["magnitude"]) == (entry.origin, 6.1)
    assert journal.entries() == []
    assert recover_journal(session_factory, journal, center_signer, older_than=0) == []


def test_a_warning_committed_after_all_is_only_taken_out_of_the_journal(
        session_factory: Factory, center_signer: CenterSigner, published: Published,
        tmp_path: Path) -> None:
    entry = published(commit=True)
    journal = EewJournal(tmp_path)
    journal.write(entry)
    journal.settle(entry.identifier)

    [recovered] = recover_journal(session_factory, journal, center_signer, older_than=0)

    assert recovered.outcome == "present"
    assert count(session_factory, Message) == count(session_factory, Alert) == 1
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == EEW_PUBLISH)) == 1
    assert journal.entries() == []


def test_an_identifier_taken_meanwhile_is_issued_again_under_a_new_one(
        session_factory: Factory, center_signer: CenterSigner, published: Published,
        tmp_path: Path) -> None:
    moment = utcnow()
    lost = published(commit=False, now=moment)
    # The failed transaction gave the identifier back, and the next message took it.
    taken = published(commit=True, now=moment, magnitude=5.2)
    assert taken.identifier == lost.identifier
    journal = EewJournal(tmp_path)
    journal.write(lost)
    journal.settle(lost.identifier)

    [recovered] = recover_journal(session_factory, journal, center_signer, older_than=0)

    assert recovered.outcome == "reissued"
    with session_factory() as session:
        again = session.get(Message, recovered.message_id)
        assert again is not None and again.identifier != lost.identifier
        assert "6.1" in again.xml.decode()
        audited = session.scalars(select(AuditEntry).where(
            AuditEntry.action == EEW_PUBLISH, AuditEntry.message_id == again.id)).one()
    assert audited.detail["published_as"] == lost.identifier
    assert count(session_factory, Message) == 2
    assert journal.entries() == []


def test_an_entry_in_flight_is_left_to_its_own_transaction(
        session_factory: Factory, center_signer: CenterSigner, published: Published,
        tmp_path: Path) -> None:
    journal = EewJournal(tmp_path)
    journal.write(published(commit=False))
    assert recover_journal(session_factory, journal, center_signer, older_than=0) == []
    assert count(session_factory, Message) == 0
