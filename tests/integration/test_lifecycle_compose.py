"""Composing drafts from JSON and from CAP XML: wrong input is named and stores nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import MsgType, Status
from publisher.cap.writer import write_alert
from publisher.cap.xmlsafe import XmlLimits
from publisher.sample_alert import rainstorm_red_warning
from publisher.services.errors import InvalidInput, ServiceError, TooLarge
from publisher.services.lifecycle import compose, compose_from_cap, get_alert, list_alerts, submit
from publisher.store.db import session_scope
from publisher.store.models import Alert, AlertState, AuditEntry
from tests.integration.lifecycle_support import People, content, make_people
from tests.json_edit import REMOVE, edited


@pytest.fixture
def people(session_factory: sessionmaker[Session]) -> People:
    return make_people(session_factory)


def _stored(factory: sessionmaker[Session]) -> tuple[int, int]:
    with session_scope(factory) as session:
        return (session.scalar(select(func.count()).select_from(Alert)) or 0,
                session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_a_composed_draft_holds_content_and_index_columns(
        session_factory: sessionmaker[Session], people: People) -> None:
    payload = content()
    with session_scope(session_factory) as session:
        alert = compose(session, people.author, payload)
    stored = get_alert(session_factory(), alert.id)
    assert stored.state is AlertState.DRAFT
    assert (stored.status, stored.event, stored.severity) == ("Exercise", "暴雨", "Extreme")
    assert stored.headline == "北京市气象台发布暴雨红色预警信号"
    assert not {"identifier", "sender", "sent", "msgType"} & set(stored.draft)
    assert stored.draft["info"] == payload["info"]
    assert stored.expires_at == datetime.fromisoformat(payload["info"][0]["expires"])


def _with(path: str, value: Any) -> dict[str, Any]:
    return edited(content(), path, value)


@pytest.mark.parametrize(("payload", "field"), [
    (_with("info/0/urgency", "Soon"), "info[0]/urgency"),
    (_with("info/0/area/0/polygon/0/1/lat", "39.9"), "info[0]/area[0]/polygon[0][1]/lat"),
    (_with("info/0/area/0/geocode/0/value", "999999"), "info[0]/area[0]/geocode[0]"),
    (_with("info/0/event", REMOVE), "info[0]/event"),
    (_with("info/0/parameter/0/value", "blue"), "info[0]/parameter[0]"),
    (_with("headLine", "typo"), "headLine"),
    (_with("status", "Draft"), "status"),
    (_with("status", "System"), "status"),
    (_with("scope", "Private"), "scope"),
    (_with("msgType", "Cancel"), "msgType"),
    (_with("references", "a,b,2026-01-01T00:00:00+08:00"), "references"),
    ([], "alert"),
])
def test_wrong_json_is_refused_by_field_and_stores_nothing(
        session_factory: sessionmaker[Session], people: People, payload: Any,
        field: str) -> None:
    with pytest.raises(InvalidInput) as refused, session_scope(session_factory) as session:
        compose(session, people.author, payload)
    assert refused.value.field == field
    assert _stored(session_factory) == (0, 0)


def test_a_cap_document_becomes_a_draft(session_factory: sessionmaker[Session],
                                        people: People) -> None:
    imported = rainstorm_red_warning(datetime.now(UTC), status=Status.TEST)
    with session_scope(session_factory) as session:
        alert = compose_from_cap(session, people.author, write_alert(imported))
        submit(session, people.author, alert.id)
    stored = get_alert(session_factory(), alert.id)
    assert (stored.state, stored.status) == (AlertState.SUBMITTED, "Test")
    with session_scope(session_factory) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "compose")).one()
        assert entry.detail["imported"]["identifier"] == imported.identifier


_HOSTILE = [
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><alert>&x;</alert>',
    b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>",
    b"not xml at all",
    b"<rss version='2.0'><channel/></rss>",
    b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>x</identifier></alert>",
    b"<a>" * 500 + b"</a>" * 500,
]


@pytest.mark.parametrize("data", _HOSTILE, ids=["entity", "truncated", "not-xml", "rss",
                                                "incomplete", "deep"])
def test_hostile_or_malformed_cap_stores_nothing(session_factory: sessionmaker[Session],
                                                 people: People, data: bytes) -> None:
    with pytest.raises(InvalidInput), session_scope(session_factory) as session:
        compose_from_cap(session, people.author, data)
    assert _stored(session_factory) == (0, 0)


def test_a_document_over_the_limit_is_too_large(session_factory: sessionmaker[Session],
                                                people: People) -> None:
    data = write_alert(rainstorm_red_warning(datetime.now(UTC)))
    with pytest.raises(TooLarge), session_scope(session_factory) as session:
        compose_from_cap(session, people.author, data, limits=XmlLimits(max_bytes=len(data) - 1))
    assert _stored(session_factory) == (0, 0)


@pytest.mark.parametrize("msg_type", [MsgType.CANCEL, MsgType.UPDATE])
def test_an_imported_cancel_or_update_never_becomes_a_new_alert(
        session_factory: sessionmaker[Session], people: People, msg_type: MsgType) -> None:
    sample = rainstorm_red_warning(datetime.now(UTC))
    reference = f"{sample.sender},{sample.identifier},{sample.sent.isoformat()}"
    data = write_alert(replace(sample, msg_type=msg_type, references=reference))
    with pytest.raises(InvalidInput) as refused, session_scope(session_factory) as session:
        compose_from_cap(session, people.author, data)
    assert refused.value.field == "msgType"
    assert _stored(session_factory) == (0, 0)


def test_alerts_are_listed_by_state_newest_first(session_factory: sessionmaker[Session],
                                                 people: People) -> None:
    with session_scope(session_factory) as session:
        ids = [compose(session, people.author, content()).id for _ in range(3)]
        submit(session, people.author, ids[0])
    with session_scope(session_factory) as session:
        drafts = list_alerts(session, "draft", page=1, per_page=1)
        assert ([alert.id for alert in drafts.items], drafts.total) == ([ids[2]], 2)
        assert [alert.id for alert in list_alerts(session, None, 1).items] == ids[::-1]
        assert list_alerts(session, "submitted", 2).items == []
        for state, page, field in (("drafted", 1, "state"), (None, 0, "page")):
            with pytest.raises(InvalidInput) as refused:
                list_alerts(session, state, page)
            assert refused.value.field == field
        with pytest.raises(ServiceError) as missing:
            get_alert(session, 12345)
        assert missing.value.kind == "not_found"
