"""People and their credentials: argon2id password hashes, bearer tokens, lockout.

Neither a password nor a token is ever stored or logged: the password as an
argon2id hash, the token as its SHA-256, shown to its owner once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.services.actors import Actor
from publisher.services.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from publisher.services.passwords import hash_password, password_matches, rehash_if_outdated
from publisher.store.models import ApiToken, Role, User, UserRole, utcnow

__all__ = [
    "LOCKOUT",
    "MAX_FAILED_LOGINS",
    "MIN_PASSWORD_LENGTH",
    "TOKEN_PREFIX",
    "actor_for_token",
    "authenticate_password",
    "create_token",
    "create_user",
    "revoke_token",
    "token_digest",
]

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 8
TOKEN_PREFIX = "pat_"  # noqa: S105 - a marker, not a secret
_TOKEN_BYTES = 32
_USERNAME_LIMIT = 64


def _roles(roles: Iterable[Role | str]) -> set[Role]:
    chosen: set[Role] = set()
    for role in roles:
        try:
            chosen.add(Role(role))
        except ValueError:
            known = ", ".join(member.value for member in Role)
            raise InvalidInput(f"unknown role {role!r} (known: {known})", field="roles") from None
    if not chosen:
        raise InvalidInput("a user needs at least one role", field="roles")
    return chosen


def _user_named(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).one_or_none()


def create_user(session: Session, username: str, password: str, roles: Iterable[Role | str],
                display_name: str = "") -> User:
    username = username.strip()
    if not username or len(username) > _USERNAME_LIMIT or any(c.isspace() for c in username):
        raise InvalidInput(f"must be 1 to {_USERNAME_LIMIT} characters without spaces",
                           field="username")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"must be at least {MIN_PASSWORD_LENGTH} characters", field="password")
    granted = _roles(roles)
    if _user_named(session, username) is not None:
        raise Conflict(f"a user named {username!r} exists already", field="username")
    user = User(username=username, display_name=display_name, password_hash=hash_password(password),
                active=True, failed_logins=0,
                roles=[UserRole(role=role) for role in sorted(granted)])
    session.add(user)
    session.flush()
    return user


def _refuse_login(session: Session, user: User, now: datetime) -> None:
    user.failed_logins += 1
    if user.failed_logins >= MAX_FAILED_LOGINS:
        user.locked_until = now + LOCKOUT
        user.failed_logins = 0
    # The failure must count even though the caller's transaction is rolled
    # back by the error raised next.
    session.commit()


def authenticate_password(session: Session, username: str, password: str,
                          *, now: datetime | None = None) -> Actor:
    """The actor for these credentials; Unauthenticated for a wrong one or a locked account.

    After MAX_FAILED_LOGINS wrong passwords in a row the account is locked for LOCKOUT.
    """
    moment = now or utcnow()
    refusal = Unauthenticated("wrong username or password", field="password")
    user = _user_named(session, username)
    if user is None or not user.active:
        password_matches(None, password)
        raise refusal
    if user.locked_until is not None and user.locked_until > moment:
        raise Unauthenticated(f"too many failed logins; locked until {user.locked_until:%H:%M} UTC",
                              field="username")
    if not password_matches(user.password_hash, password):
        _refuse_login(session, user, moment)
        raise refusal
    user.failed_logins = 0
    user.locked_until = None
    user.password_hash = rehash_if_outdated(user.password_hash, password)
    return Actor.of_user(user)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, username: str, name: str) -> str:
    """A new bearer token for ``username``, returned once and stored only as its SHA-256."""
    user = _user_named(session, username)
    if user is None:
        raise NotFound(f"no user named {username!r}", field="username")
    if not name.strip():
        raise InvalidInput("a token needs a name that says what it is for", field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)
    session.add(ApiToken(user_id=user.id, name=name.strip(), token_sha256=token_digest(token)))
    session.flush()
    return token


def actor_for_token(session: Session, token: str, *, now: datetime | None = None) -> Actor:
    refusal = Unauthenticated("unknown or revoked token", field="token")
    if not token.startswith(TOKEN_PREFIX):
        raise refusal
    found = session.scalars(
        select(ApiToken).where(ApiToken.token_sha256 == token_digest(token))
    ).one_or_none()
    if found is None or found.revoked_at is not None or not found.user.active:
        raise refusal
    found.last_used_at = now or utcnow()
    return Actor.of_user(found.user)


def revoke_token(session: Session, username: str, name: str) -> int:
    """Revoke the live tokens called ``name`` of ``username``; returns how many."""
    tokens = session.scalars(
        select(ApiToken).join(User).where(User.username == username, ApiToken.name == name,
                                          ApiToken.revoked_at.is_(None))
    ).all()
    if not tokens:
        raise NotFound(f"{username!r} has no live token named {name!r}", field="name")
    moment = utcnow()
    for token in tokens:
        token.revoked_at = moment
    return len(tokens)
