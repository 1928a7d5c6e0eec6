"""Staff sessions for the web pages: log in, who a session cookie stands for, log out.

A session ends when its person logs out, after IDLE_TIMEOUT without a
request, or ABSOLUTE_LIFETIME after the login, whichever comes first. The
password check and its lockout are ``publisher.services.users``'; every
login, refusal and lockout is audited here.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.services import audit
from publisher.services.actors import Actor
from publisher.services.errors import Unauthenticated
from publisher.services.users import authenticate_password, token_digest
from publisher.store.models import StaffSession, User, utcnow

__all__ = [
    "ABSOLUTE_LIFETIME",
    "IDLE_TIMEOUT",
    "SessionEnded",
    "SessionExpired",
    "SignedIn",
    "StaffLogin",
    "log_in",
    "log_out",
    "signed_in",
]

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_LIFETIME = timedelta(hours=12)
_TOKEN_BYTES = 32
_LOGIN_ACTOR = "staff-login"


class SessionEnded(Unauthenticated):
    """The cookie names no live session: never issued, logged out, or expired."""


class SessionExpired(SessionEnded):
    """The session was live but idle too long, or is older than its absolute lifetime."""


@dataclass(frozen=True, slots=True)
class StaffLogin:
    token: str
    csrf_token: str
    actor: Actor

    def __repr__(self) -> str:
        return f"StaffLogin(actor={self.actor.name!r})"


@dataclass(frozen=True, slots=True)
class SignedIn:
    session_id: int
    csrf_token: str
    actor: Actor

    def __repr__(self) -> str:
        return f"SignedIn(session_id={self.session_id!r}, actor={self.actor.name!r})"


def _audit_refusal(session: Session, username: str, refusal: Unauthenticated,
                   moment: datetime) -> None:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        audit.record(session, Actor.system(_LOGIN_ACTOR), "login_refused",
                     reason=refusal.reason, detail={"username": username[:64]})
    else:
        actor = Actor(user.id, user.username, frozenset())
        audit.record(session, actor, "login_refused", reason=refusal.reason)
        locked_until = user.locked_until
        if refusal.field == "password" and locked_until is not None and locked_until > moment:
            audit.record(session, actor, "account_locked", reason="too many failed logins",
                         detail={"locked_until": locked_until.isoformat()})
    # The refusal is raised next, which rolls the caller's transaction back.
    session.commit()


def log_in(session: Session, username: str, password: str, *,
           now: datetime | None = None) -> StaffLogin:
    """A new session for these credentials, or Unauthenticated (wrong, or locked out)."""
    moment = now or utcnow()
    try:
        actor = authenticate_password(session, username, password, now=moment)
    except Unauthenticated as refusal:
        _audit_refusal(session, username, refusal, moment)
        raise
    token, csrf_token = secrets.token_urlsafe(_TOKEN_BYTES), secrets.token_urlsafe(_TOKEN_BYTES)
    assert actor.user_id is not None  # a password belongs to a person
    session.add(StaffSession(user_id=actor.user_id, token_sha256=token_digest(token),
                             csrf_token=csrf_token, created_at=moment, last_seen_at=moment))
    audit.record(session, actor, "login")
    return StaffLogin(token, csrf_token, actor)


def _live(session: Session, token: str) -> StaffSession | None:
    return session.scalars(select(StaffSession).where(
        StaffSession.token_sha256 == token_digest(token),
        StaffSession.ended_at.is_(None))).one_or_none()


def signed_in(session: Session, token: str, *, now: datetime | None = None) -> SignedIn:
    """Who the session ``token`` stands for; marks it used now."""
    moment = now or utcnow()
    found = _live(session, token)
    if found is None or not found.user.active:
        raise SessionEnded("not signed in", field="session")
    if moment - found.last_seen_at > IDLE_TIMEOUT or \
            moment - found.created_at > ABSOLUTE_LIFETIME:
        found.ended_at = moment
        session.commit()
        raise SessionExpired("the session has expired; log in again", field="session")
    found.last_seen_at = moment
    return SignedIn(found.id, found.csrf_token, Actor.of_user(found.user))


def log_out(session: Session, token: str, *, now: datetime | None = None) -> None:
    found = _live(session, token)
    if found is None:
        return
    found.ended_at = now or utcnow()
    audit.record(session, Actor.of_user(found.user), "logout")
