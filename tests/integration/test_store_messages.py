"""A signed message, once stored, cannot be changed or removed by any path."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from publisher.store.db import session_scope
from publisher.store.models import Alert, AlertState, Message, MessageImmutableError, User


@pytest.fixture
def message_id(session_factory: sessionmaker[Session]) -> int:
    with session_scope(session_factory) as session:
        user = User(username="issuer", password_hash="unused")
        session.add(user)
        session.flush()
        alert = Alert(state=AlertState.PUBLISHED, draft={}, status="Exercise",
                      author_id=user.id)
        session.add(alert)
        session.flush()
        message = Message(alert_id=alert.id, identifier="110000-YJZX-20260701110000-0001",
                          sender="center@example.org", sent=datetime(2026, 7, 1, 3, tzinfo=UTC),
                          msg_type="Alert", status="Exercise", xml=b"<alert/>", sha256="0" * 64)
        session.add(message)
        session.flush()
        return message.id


def _stored_xml(factory: sessionmaker[Session], message_id: int) -> bytes:
    with session_scope(factory) as session:
        message = session.get(Message, message_id)
        assert message is not None
        return message.xml


def test_changing_a_loaded_message_is_refused(session_factory: sessionmaker[Session],
                                              message_id: int) -> None:
    with pytest.raises(MessageImmutableError), session_scope(session_factory) as session:
        message = session.get(Message, message_id)
        assert message is not None
        message.xml = b"<alert>forged</alert>"
    assert _stored_xml(session_factory, message_id) == b"<alert/>"


def test_deleting_a_loaded_message_is_refused(session_factory: sessionmaker[Session],
                                              message_id: int) -> None:
    with pytest.raises(MessageImmutableError), session_scope(session_factory) as session:
        session.delete(session.get(Message, message_id))
    assert _stored_xml(session_factory, message_id) == b"<alert/>"


@pytest.mark.parametrize("statement", [
    update(Message).values(xml=b"<alert>forged</alert>"),
    delete(Message),
], ids=["update", "delete"])
def test_bulk_statements_on_messages_are_refused(session_factory: sessionmaker[Session],
                                                 message_id: int, statement: object) -> None:
    with pytest.raises(MessageImmutableError), session_scope(session_factory) as session:
        session.execute(statement)  # type: ignore[call-overload]
    assert _stored_xml(session_factory, message_id) == b"<alert/>"


@pytest.mark.parametrize("sql", [
    "UPDATE messages SET xml = :forged",
    "DELETE FROM messages",
], ids=["update", "delete"])
def test_the_database_refuses_raw_sql_too(session_factory: sessionmaker[Session],
                                          message_id: int, sql: str) -> None:
    parameters = {"forged": b"<alert>forged</alert>"} if ":forged" in sql else {}
    with pytest.raises(DBAPIError, match="immutable"), session_scope(session_factory) as session:
        session.execute(text(sql), parameters)
    assert _stored_xml(session_factory, message_id) == b"<alert/>"
