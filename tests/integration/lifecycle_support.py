"""People and content for the lifecycle tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import Status
from publisher.cap.views import alert_to_json
from publisher.sample_alert import rainstorm_red_warning
from publisher.services.actors import Actor
from publisher.store.db import session_scope
from publisher.store.models import Role, User, UserRole


@dataclass(frozen=True)
class People:
    author: Actor
    approver: Actor
    second_approver: Actor
    author_approver: Actor
    viewer: Actor


def make_people(factory: sessionmaker[Session]) -> People:
    roles = {
        "author": [Role.AUTHOR],
        "approver": [Role.APPROVER],
        "second_approver": [Role.APPROVER],
        "author_approver": [Role.AUTHOR, Role.APPROVER],
        "viewer": [Role.VIEWER],
    }
    # Rows written directly: these tests never log in, and hashing a password
    # per person per test would cost seconds.
    users = {name: User(username=name, password_hash="no-login",
                        roles=[UserRole(role=role) for role in granted])
             for name, granted in roles.items()}
    with session_scope(factory) as session:
        session.add_all(users.values())
        session.flush()
        actors = {name: Actor.of_user(user) for name, user in users.items()}
    return People(**actors)


def content(status: Status = Status.EXERCISE, *, valid_for: timedelta = timedelta(hours=6),
            headline: str | None = None) -> dict[str, Any]:
    """A composer's JSON: the rainstorm warning without what the center issues."""
    now = datetime.now(UTC).replace(microsecond=0)
    alert = rainstorm_red_warning(now + valid_for - timedelta(hours=6), status=status)
    payload = alert_to_json(alert)
    for name in ("identifier", "sender", "sent"):
        del payload[name]
    if headline is not None:
        payload["info"][0]["headline"] = headline
    return payload
