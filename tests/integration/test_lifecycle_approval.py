"""Compose, submit, approve: the two-person rule and publishing in one transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.document import check_document
from publisher.cap.model import Status
from publisher.cap.signing import SignatureOutcome, verify_alert_xml
from publisher.services.errors import Conflict, Forbidden, InvalidInput, ServiceError
from publisher.services.lifecycle import approve, compose, edit, reject, submit
from publisher.services.signer import CenterSigner
from publisher.store.db import session_scope
from publisher.store.models import Alert, AlertState, AuditEntry, Message, OutboxEntry
from tests.integration.lifecycle_support import People, content, make_people


@pytest.fixture
def people(session_factory: sessionmaker[Session]) -> People:
    return make_people(session_factory)

def _submitted(factory: sessionmaker[Session], people: People,
               status: Status = Status.EXERCISE) -> int:
    with session_scope(factory) as session:
        alert = compose(session, people.author, content(status))
        submit(session, people.author, alert.id)
        return alert.id

def _count(factory: sessionmaker[Session], model: type[object]) -> int:
    with session_scope(factory) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0

def _state(factory: sessionmaker[Session], alert_id: int) -> AlertState:
    with session_scope(factory) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        return alert.state

def test_approval_publishes_a_signed_valid_message_with_its_outbox_row(
        session_factory: sessionmaker[Session], people: People,
        center_signer: CenterSigner) -> None:
    alert_id = _submitted(session_factory, people)
    with session_scope(session_factory) as session:
        message = approve(session, people.approver, alert_id, center_signer)
    with session_scope(session_factory) as session:
        stored = session.get(Message, message.id)
        assert stored is not None
        outbox = session.scalars(select(OutboxEntry)).one()
        alert = session.get(Alert, alert_id)
        assert alert is not None
        assert (alert.state, alert.approver_id) == (AlertState.PUBLISHED, people.approver.user_id)
    assert outbox.message_id == stored.id
    assert outbox.dispatched_at is None
    report = check_document(stored.xml, profile=center_signer.issuer.profile)
    assert report.ok, report.errors
    assert report.alert is not None
    assert (report.alert.identifier, report.alert.sender) == (stored.identifier, stored.sender)
    assert report.alert.sent == stored.sent
    assert stored.identifier.startswith("110000-YJZX-")
    verification = verify_alert_xml(stored.xml, [center_signer.certificate])
    assert verification.outcome is SignatureOutcome.VALID

def test_every_transition_is_audited(session_factory: sessionmaker[Session], people: People,
                                     center_signer: CenterSigner) -> None:
    with session_scope(session_factory) as session:
        alert = compose(session, people.author, content())
        submit(session, people.author, alert.id)
        reject(session, people.approver, alert.id, "the polygon misses Tongzhou")
        edit(session, people.author, alert.id, content(headline="暴雨红色预警（更正）"))
        submit(session, people.author, alert.id)
        message = approve(session, people.approver, alert.id, center_signer)
    with session_scope(session_factory) as session:
        trail = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(entry.actor, entry.action) for entry in trail] == [
            ("author", "compose"), ("author", "submit"), ("approver", "reject"),
            ("author", "edit"), ("author", "submit"), ("approver", "approve"),
        ]
        assert trail[2].reason == "the polygon misses Tongzhou"
        assert trail[-1].message_id == message.id
        assert all(entry.at is not None and entry.alert_id == alert.id for entry in trail)
        assert trail[0].detail["user_id"] == people.author.user_id

def test_an_author_cannot_approve_their_own_alert(session_factory: sessionmaker[Session],
                                                  people: People,
                                                  center_signer: CenterSigner) -> None:
    with session_scope(session_factory) as session:
        alert = compose(session, people.author_approver, content())
        submit(session, people.author_approver, alert.id)
    with pytest.raises(Forbidden) as refused, session_scope(session_factory) as session:
        approve(session, people.author_approver, alert.id, center_signer)
    assert refused.value.field == "approver"
    assert _state(session_factory, alert.id) is AlertState.SUBMITTED
    assert _count(session_factory, Message) == 0
    with pytest.raises(Forbidden), session_scope(session_factory) as session:
        reject(session, people.author_approver, alert.id, "second thoughts")

@pytest.mark.parametrize(("who", "action"), [
    ("author", "approve"), ("viewer", "approve"), ("author", "reject"),
    ("approver", "compose"), ("viewer", "compose"), ("approver", "submit"),
])
def test_roles_are_enforced(session_factory: sessionmaker[Session], people: People,
                            center_signer: CenterSigner, who: str, action: str) -> None:
    alert_id = _submitted(session_factory, people)
    actor = getattr(people, who)
    calls = {
        "approve": lambda session: approve(session, actor, alert_id, center_signer),
        "reject": lambda session: reject(session, actor, alert_id, "no"),
        "compose": lambda session: compose(session, actor, content()),
        "submit": lambda session: submit(session, actor, alert_id),
    }
    with pytest.raises(Forbidden) as refused, session_scope(session_factory) as session:
        calls[action](session)
    assert refused.value.field == "role"
    assert _count(session_factory, Message) == 0
    assert _count(session_factory, Alert) == 1

def test_only_the_author_submits_and_edits(session_factory: sessionmaker[Session],
                                           people: People) -> None:
    with session_scope(session_factory) as session:
        alert = compose(session, people.author, content())
    for call in (lambda s: submit(s, people.author_approver, alert.id),
                 lambda s: edit(s, people.author_approver, alert.id, content())):
        with pytest.raises(Forbidden), session_scope(session_factory) as session:
            call(session)
    assert _state(session_factory, alert.id) is AlertState.DRAFT

def test_wrong_transitions_are_conflicts(session_factory: sessionmaker[Session],
                                         people: People, center_signer: CenterSigner) -> None:
    with session_scope(session_factory) as session:
        draft = compose(session, people.author, content())
    with pytest.raises(Conflict, match="draft"), session_scope(session_factory) as session:
        approve(session, people.approver, draft.id, center_signer)
    alert_id = _submitted(session_factory, people)
    with session_scope(session_factory) as session:
        approve(session, people.approver, alert_id, center_signer)
    refused = [
        lambda s: submit(s, people.author, alert_id),
        lambda s: edit(s, people.author, alert_id, content()),
        lambda s: approve(s, people.second_approver, alert_id, center_signer),
        lambda s: reject(s, people.second_approver, alert_id, "too late"),
    ]
    for call in refused:
        with pytest.raises(Conflict) as conflict, session_scope(session_factory) as session:
            call(session)
        assert conflict.value.field == "state"
    assert _count(session_factory, Message) == 1

def test_an_unknown_alert_is_not_found(session_factory: sessionmaker[Session],
                                       people: People, center_signer: CenterSigner) -> None:
    with pytest.raises(ServiceError) as missing, session_scope(session_factory) as session:
        approve(session, people.approver, 999, center_signer)
    assert (missing.value.kind, missing.value.field) == ("not_found", "alert_id")

def test_an_actual_alert_needs_explicit_confirmation(session_factory: sessionmaker[Session],
                                                     people: People,
                                                     center_signer: CenterSigner) -> None:
    alert_id = _submitted(session_factory, people, Status.ACTUAL)
    with pytest.raises(InvalidInput) as refused, session_scope(session_factory) as session:
        approve(session, people.approver, alert_id, center_signer)
    assert refused.value.field == "confirm_actual"
    assert _state(session_factory, alert_id) is AlertState.SUBMITTED
    with session_scope(session_factory) as session:
        message = approve(session, people.approver, alert_id, center_signer, confirm_actual=True)
    assert message.status == "Actual"

@pytest.fixture
def refusing_outbox(database_url: str, session_factory: sessionmaker[Session]) -> Iterator[None]:
    """The database refuses every outbox row, as a full disk or a lost connection would."""
    with session_scope(session_factory) as session:
        if database_url.startswith("sqlite"):
            session.execute(text("CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox "
                                 "BEGIN SELECT RAISE(ABORT, 'outbox refused'); END"))
        else:
            session.execute(text(
                "CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'outbox refused'; END $$"))
            session.execute(text("CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox "
                                 "FOR EACH ROW EXECUTE FUNCTION refuse_outbox()"))
    yield
    with session_scope(session_factory) as session:
        if database_url.startswith("sqlite"):
            session.execute(text("DROP TRIGGER refuse_outbox"))
        else:
            session.execute(text("DROP TRIGGER refuse_outbox ON outbox"))
            session.execute(text("DROP FUNCTION refuse_outbox()"))

@pytest.mark.usefixtures("refusing_outbox")
def test_no_message_is_stored_when_its_outbox_row_fails(session_factory: sessionmaker[Session],
                                                        people: People,
                                                        center_signer: CenterSigner) -> None:
    alert_id = _submitted(session_factory, people)
    with pytest.raises(DBAPIError, match="outbox refused"), \
            session_scope(session_factory) as session:
        approve(session, people.approver, alert_id, center_signer)
    assert _count(session_factory, Message) == 0
    assert _count(session_factory, OutboxEntry) == 0
    assert _state(session_factory, alert_id) is AlertState.SUBMITTED
    with session_scope(session_factory) as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "approve" not in actions

def test_two_concurrent_approvals_publish_once(session_factory: sessionmaker[Session],
                                               people: People,
                                               center_signer: CenterSigner) -> None:
    alert_id = _submitted(session_factory, people)
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def approve_as(approver: object) -> None:
        start.wait()
        try:
            with session_scope(session_factory) as session:
                outcomes.append(approve(session, approver, alert_id,  # type: ignore[arg-type]
                                        center_signer).identifier)
        except ServiceError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=approve_as, args=(approver,))
               for approver in (people.approver, people.second_approver)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == 2
    assert sum(isinstance(outcome, str) for outcome in outcomes) == 1, outcomes
    assert sum(isinstance(outcome, Conflict) for outcome in outcomes) == 1, outcomes
    assert _count(session_factory, Message) == 1
    assert _count(session_factory, OutboxEntry) == 1

def test_an_expired_alert_is_not_published(session_factory: sessionmaker[Session],
                                           people: People, center_signer: CenterSigner) -> None:

    with session_scope(session_factory) as session:
        alert = compose(session, people.author, content(valid_for=timedelta(minutes=1)))
        submit(session, people.author, alert.id)
    assert alert.expires_at is not None
    with pytest.raises(InvalidInput, match="expired"), session_scope(session_factory) as session:
        approve(session, people.approver, alert.id, center_signer,
                now=alert.expires_at + timedelta(seconds=1))
    assert _count(session_factory, Message) == 0
