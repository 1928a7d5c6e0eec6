"""Update, Cancel and expiry of a published alert."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.document import check_document
from publisher.cap.model import MsgType, ResponseType, Status
from publisher.cap.references import parse_references
from publisher.cap.signing import SignatureOutcome, verify_alert_xml
from publisher.services.errors import Conflict, Forbidden, InvalidInput
from publisher.services.lifecycle import (
    approve,
    cancel,
    compose,
    expire_due,
    submit,
    update,
)
from publisher.services.signer import CenterSigner
from publisher.store.db import session_scope
from publisher.store.models import Alert, AlertState, AuditEntry, Message
from tests.integration.lifecycle_support import People, content, make_people


@pytest.fixture
def people(session_factory: sessionmaker[Session]) -> People:
    return make_people(session_factory)


def _publish(factory: sessionmaker[Session], people: People, signer: CenterSigner,
             **options: timedelta) -> Message:
    with session_scope(factory) as session:
        alert = compose(session, people.author, content(**options))
        submit(session, people.author, alert.id)
        return approve(session, people.approver, alert.id, signer)


def _triple(message: Message) -> str:
    report = check_document(message.xml)
    assert report.alert is not None
    return f"{message.sender},{message.identifier},{report.alert.sent.isoformat()}"


def _referenced(message: Message) -> set[str]:
    references, problems = parse_references(message.references or "")
    assert not problems
    return {reference.identifier for reference in references}


def _alert(factory: sessionmaker[Session], alert_id: int) -> Alert:
    with session_scope(factory) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        return alert


def test_an_update_references_exactly_the_message_it_supersedes(
        session_factory: sessionmaker[Session], people: People,
        center_signer: CenterSigner) -> None:
    first = _publish(session_factory, people, center_signer)
    with session_scope(session_factory) as session:
        second = update(session, people.approver, first.alert_id,
                        content(headline="暴雨红色预警（延长）"), center_signer)
    with session_scope(session_factory) as session:
        third = update(session, people.second_approver, first.alert_id,
                       content(headline="暴雨红色预警（再延长）"), center_signer)
    assert (second.msg_type, third.msg_type) == ("Update", "Update")
    assert _referenced(second) == {first.identifier}
    assert _referenced(third) == {second.identifier}
    report = check_document(third.xml, profile=center_signer.issuer.profile)
    assert report.ok, report.errors
    assert report.alert is not None
    assert report.alert.references == f"{_triple(second)}"
    assert report.alert.infos[0].headline == "暴雨红色预警（延长）".replace("延长", "再延长")
    assert _alert(session_factory, first.alert_id).state is AlertState.PUBLISHED


def test_an_update_keeps_the_status_and_is_not_by_the_author(
        session_factory: sessionmaker[Session], people: People,
        center_signer: CenterSigner) -> None:
    first = _publish(session_factory, people, center_signer)
    with pytest.raises(InvalidInput) as refused, session_scope(session_factory) as session:
        update(session, people.approver, first.alert_id, content(Status.ACTUAL), center_signer,
               confirm_actual=True)
    assert refused.value.field == "status"
    with session_scope(session_factory) as session:
        alert = compose(session, people.author_approver, content())
        submit(session, people.author_approver, alert.id)
        approve(session, people.approver, alert.id, center_signer)
    with pytest.raises(Forbidden), session_scope(session_factory) as session:
        update(session, people.author_approver, alert.id, content(), center_signer)


def test_a_cancel_names_the_live_messages_and_ends_the_alert(
        session_factory: sessionmaker[Session], people: People,
        center_signer: CenterSigner) -> None:
    first = _publish(session_factory, people, center_signer)
    with session_scope(session_factory) as session:
        second = update(session, people.approver, first.alert_id, content(), center_signer)
    with session_scope(session_factory) as session:
        cancelled = cancel(session, people.approver, first.alert_id, center_signer,
                           references=[_triple(second)], reason="the storm moved north")
    assert cancelled.msg_type == "Cancel"
    assert _referenced(cancelled) == {second.identifier}
    report = check_document(cancelled.xml, profile=center_signer.issuer.profile)
    assert report.ok, report.errors
    assert report.alert is not None
    assert report.alert.msg_type is MsgType.CANCEL
    assert report.alert.note == "the storm moved north"
    assert all(info.response_types == (ResponseType.ALL_CLEAR,) for info in report.alert.infos)
    verification = verify_alert_xml(cancelled.xml, [center_signer.certificate])
    assert verification.outcome is SignatureOutcome.VALID
    assert _alert(session_factory, first.alert_id).state is AlertState.CANCELLED
    with session_scope(session_factory) as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "cancel")).one()
        assert (audited.reason, audited.message_id) == ("the storm moved north", cancelled.id)


def test_a_cancel_by_default_names_the_live_messages(session_factory: sessionmaker[Session],
                                                     people: People,
                                                     center_signer: CenterSigner) -> None:
    first = _publish(session_factory, people, center_signer)
    with session_scope(session_factory) as session:
        cancelled = cancel(session, people.approver, first.alert_id, center_signer,
                           reason="issued in error")
    assert _referenced(cancelled) == {first.identifier}


@pytest.mark.parametrize("case", ["other alert", "unknown", "superseded", "partial", "extra"])
def test_an_ambiguous_cancel_is_a_conflict(session_factory: sessionmaker[Session],
                                           people: People, center_signer: CenterSigner,
                                           case: str) -> None:
    first = _publish(session_factory, people, center_signer)
    other = _publish(session_factory, people, center_signer)
    with session_scope(session_factory) as session:
        second = update(session, people.approver, first.alert_id, content(), center_signer)
    unknown = f"{first.sender},110000-YJZX-20200101080000-0001,2020-01-01T08:00:00+08:00"
    requested = {
        "other alert": [_triple(other)],
        "unknown": [unknown],
        "superseded": [_triple(first)],
        "partial": [],
        "extra": [_triple(second), _triple(first)],
    }[case]
    with pytest.raises(Conflict), session_scope(session_factory) as session:
        cancel(session, people.approver, first.alert_id, center_signer, references=requested,
               reason="wrong")
    assert _alert(session_factory, first.alert_id).state is AlertState.PUBLISHED
    with session_scope(session_factory) as session:
        kinds = session.scalars(select(Message.msg_type).order_by(Message.id)).all()
    assert kinds == ["Alert", "Alert", "Update"]


def test_a_malformed_reference_is_invalid_input(session_factory: sessionmaker[Session],
                                                people: People,
                                                center_signer: CenterSigner) -> None:
    first = _publish(session_factory, people, center_signer)
    with pytest.raises(InvalidInput) as refused, session_scope(session_factory) as session:
        cancel(session, people.approver, first.alert_id, center_signer,
               references=[first.identifier, "a,b"], reason="wrong")
    assert refused.value.field == "references[1]"


def test_a_cancel_by_identifier_and_by_the_author_if_approver(
        session_factory: sessionmaker[Session], people: People,
        center_signer: CenterSigner) -> None:
    with session_scope(session_factory) as session:
        alert = compose(session, people.author_approver, content())
        submit(session, people.author_approver, alert.id)
        first = approve(session, people.approver, alert.id, center_signer)
    with session_scope(session_factory) as session:
        cancelled = cancel(session, people.author_approver, alert.id, center_signer,
                           references=[first.identifier], reason="issued in error")
    assert _referenced(cancelled) == {first.identifier}


def test_a_cancelled_alert_is_never_published_again(session_factory: sessionmaker[Session],
                                                    people: People,
                                                    center_signer: CenterSigner) -> None:
    first = _publish(session_factory, people, center_signer)
    with session_scope(session_factory) as session:
        cancel(session, people.approver, first.alert_id, center_signer, reason="error")
    for call in (
        lambda s: update(s, people.approver, first.alert_id, content(), center_signer),
        lambda s: cancel(s, people.approver, first.alert_id, center_signer, reason="again"),
        lambda s: approve(s, people.second_approver, first.alert_id, center_signer),
        lambda s: submit(s, people.author, first.alert_id),
    ):
        with pytest.raises(Conflict), session_scope(session_factory) as session:
            call(session)
    with session_scope(session_factory) as session:
        assert session.scalars(select(Message.msg_type).order_by(Message.id)).all() \
            == ["Alert", "Cancel"]


def test_a_cancel_needs_the_approver_role_and_a_reason(session_factory: sessionmaker[Session],
                                                       people: People,
                                                       center_signer: CenterSigner) -> None:
    first = _publish(session_factory, people, center_signer)
    with pytest.raises(Forbidden), session_scope(session_factory) as session:
        cancel(session, people.author, first.alert_id, center_signer, reason="mine")
    with pytest.raises(InvalidInput) as refused, session_scope(session_factory) as session:
        cancel(session, people.approver, first.alert_id, center_signer, reason=" ")
    assert refused.value.field == "reason"


def test_alerts_expire_at_their_expiry(session_factory: sessionmaker[Session], people: People,
                                       center_signer: CenterSigner) -> None:
    short = _publish(session_factory, people, center_signer, valid_for=timedelta(hours=1))
    long = _publish(session_factory, people, center_signer, valid_for=timedelta(hours=6))
    expires = _alert(session_factory, short.alert_id).expires_at
    assert expires is not None
    with session_scope(session_factory) as session:
        assert expire_due(session, expires - timedelta(seconds=1)) == []
    with session_scope(session_factory) as session:
        assert expire_due(session, expires) == [short.alert_id]
    with session_scope(session_factory) as session:
        assert expire_due(session, expires + timedelta(minutes=1)) == []
    assert _alert(session_factory, short.alert_id).state is AlertState.EXPIRED
    assert _alert(session_factory, long.alert_id).state is AlertState.PUBLISHED
    with session_scope(session_factory) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "expire")).one()
        assert (entry.actor, entry.alert_id) == ("system:expiry", short.alert_id)
