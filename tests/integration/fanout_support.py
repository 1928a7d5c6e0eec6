"""Rows for fan-out tests, written directly: a published message and its targets.

The lifecycle services make these in production; the fan-out tests write
them by hand so that they test the fan-out alone.
"""

from __future__ import annotations

import hashlib
import itertools
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap import generate_demo_identity, sign_alert_xml, write_alert
from publisher.cap.districts import DistrictTable
from publisher.cap.model import Area, MsgType, NamedValue, Status
from publisher.channels.base import Channel
from publisher.sample_alert import rainstorm_red_warning
from publisher.services.delivery import fan_out, send_batch
from publisher.store.db import make_engine, make_session_factory, upgrade_database
from publisher.store.models import (
    Alert,
    AlertState,
    Delivery,
    DeliveryStatus,
    Message,
    OutboxEntry,
    Target,
    User,
)
from tests.services import copied_database

CHAOYANG = "110105"
HAIDIAN = "110108"
# Inside the rainstorm warning's Chaoyang polygon.
INSIDE_POLYGON = (116.50, 39.95)
_sequence = itertools.count(1)


@cache
def signing_identity() -> tuple[bytes, bytes]:
    """The key and certificate (PEM) the published messages are signed with."""
    key, cert = generate_demo_identity(Path(tempfile.mkdtemp(prefix="fanout-identity-")))
    return key.read_bytes(), cert.read_bytes()


def database(url: str) -> sessionmaker[Session]:
    upgrade_database(url)
    return make_session_factory(make_engine(url))


def _author(session: Session) -> User:
    user = session.query(User).filter_by(username="fanout-author").one_or_none()
    if user is None:
        user = User(username="fanout-author", password_hash="not-a-login")
        session.add(user)
        session.flush()
    return user


def publish(session: Session, *, status: Status = Status.EXERCISE,
            msg_type: MsgType = MsgType.ALERT, areas: tuple[Area, ...] | None = None,
            outbox: bool = True, instruction: str | None = None,
            sent: datetime | None = None) -> Message:
    """A signed message of a published alert (Chaoyang rainstorm by default), committed.

    ``instruction`` replaces the instruction of every info block. The alert
    is sent at ``sent`` (default: a day in July 2026) and expires 6 hours later.
    """
    sequence = next(_sequence)
    sent = sent or datetime(2026, 7, 1, 3, 0, tzinfo=UTC) + timedelta(minutes=sequence)
    cap_alert = rainstorm_red_warning(sent, sequence % 9999 + 1, status=status)
    cap_alert = replace(cap_alert, msg_type=msg_type)
    if areas is not None:
        cap_alert = replace(cap_alert, infos=tuple(replace(info, areas=areas)
                                                   for info in cap_alert.infos))
    if instruction is not None:
        cap_alert = replace(cap_alert, infos=tuple(replace(info, instruction=instruction)
                                                   for info in cap_alert.infos))
    xml = sign_alert_xml(write_alert(cap_alert), *signing_identity())
    author = _author(session)
    alert = Alert(state=AlertState.PUBLISHED, draft={}, status=status.value,
                  event="暴雨", author_id=author.id)
    session.add(alert)
    session.flush()
    message = Message(alert_id=alert.id, identifier=cap_alert.identifier,
                      sender=cap_alert.sender, sent=cap_alert.sent,
                      msg_type=msg_type.value, status=status.value, xml=xml,
                      sha256=hashlib.sha256(xml).hexdigest())
    session.add(message)
    session.flush()
    if outbox:
        session.add(OutboxEntry(message_id=message.id))
    session.commit()
    return message


def geocoded(code: str) -> tuple[Area, ...]:
    return (Area(area_desc=f"district {code}", geocodes=(NamedValue("GB/T 2260", code),)),)


def add_targets(session: Session, count: int, *, channel: str = "memory",
                district_code: str | None = CHAOYANG, is_test: bool = False,
                location: tuple[float, float] | None = None, prefix: str = "t",
                active: bool = True) -> None:
    start = next(_sequence) * 1_000_000
    rows = [{"channel": channel, "address": f"{prefix}-{start + index}",
             "district_code": district_code, "is_test": is_test, "active": active,
             "lon": location[0] if location else None, "lat": location[1] if location else None,
             "language": "zh-CN"}
            for index in range(count)]
    for offset in range(0, len(rows), 5000):
        session.execute(insert(Target), rows[offset:offset + 5000])
    session.commit()


def statuses(session: Session, message_id: int) -> dict[DeliveryStatus, int]:
    counts: dict[DeliveryStatus, int] = {}
    for (status,) in session.query(Delivery.status).filter_by(message_id=message_id):
        counts[status] = counts.get(status, 0) + 1
    return counts


_TABLES = "receipts, deliveries, outbox, audit_log, messages, alerts, targets, api_tokens, " \
          "user_roles, users"


def _postgres_factory(url: str) -> sessionmaker[Session]:
    factory = _migrated_postgres(url)
    with factory() as session:
        session.execute(text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
        session.commit()
    return factory


@cache
def _migrated_postgres(url: str) -> sessionmaker[Session]:
    return database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def session_factory(request: pytest.FixtureRequest,
                    tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A migrated, empty database: a SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        factory = make_session_factory(make_engine(copied_database(
            request.getfixturevalue("_migrated_sqlite_template"), tmp_path / "publisher.db")))
    else:
        factory = _postgres_factory(request.getfixturevalue("postgres_url"))
    yield factory
    bind = factory.kw["bind"]
    if request.param == "sqlite":
        bind.dispose()


def deliver_in_process(factory: sessionmaker[Session], message_id: int, channel: Channel[Any],
                       *, batch_size: int = 1000,
                       districts: DistrictTable | None = None) -> list[list[int]]:
    """Fan a message out and send every batch at once, without a broker; returns the batches."""
    batches: list[list[int]] = []
    fan_out(factory, message_id, batch_size, lambda _channel, ids: batches.append(ids),
            channels=(channel.name,), districts=districts)
    for delivery_ids in batches:
        send_batch(factory, channel, delivery_ids)
    return batches
