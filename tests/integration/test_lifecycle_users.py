"""Passwords and tokens: argon2id, lockout, tokens stored and found by SHA-256 only."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.services.actors import Actor
from publisher.services.errors import Conflict, InvalidInput, Unauthenticated
from publisher.services.users import (
    LOCKOUT,
    MAX_FAILED_LOGINS,
    actor_for_token,
    authenticate_password,
    create_token,
    create_user,
    revoke_token,
)
from publisher.store.db import session_scope
from publisher.store.models import ApiToken, Role, User, utcnow

PASSWORD = "a long enough password"


@pytest.fixture
def factory(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    with session_scope(session_factory) as session:
        create_user(session, "li.wei", PASSWORD, [Role.AUTHOR, "approver"], "Li Wei")
    return session_factory


def _login(factory: sessionmaker[Session], password: str, **options: object) -> Actor:
    with session_scope(factory) as session:
        return authenticate_password(session, "li.wei", password, **options)  # type: ignore[arg-type]


def test_password_login_gives_the_actor_with_roles(factory: sessionmaker[Session]) -> None:
    actor = _login(factory, PASSWORD)
    assert actor.name == "li.wei"
    assert actor.roles == {Role.AUTHOR, Role.APPROVER}


def test_the_hash_is_argon2id_and_never_in_a_repr(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        user = session.scalars(select(User)).one()
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert user.password_hash not in repr(user)
        assert "hash" not in repr(user)


@pytest.mark.parametrize(("username", "password", "roles", "field"), [
    ("", PASSWORD, ["author"], "username"),
    ("two words", PASSWORD, ["author"], "username"),
    ("zhang", "short", ["author"], "password"),
    ("zhang", PASSWORD, ["auther"], "roles"),
    ("zhang", PASSWORD, [], "roles"),
])
def test_bad_users_are_refused_by_field(factory: sessionmaker[Session], username: str,
                                        password: str, roles: list[str], field: str) -> None:
    with pytest.raises(InvalidInput) as refused, session_scope(factory) as session:
        create_user(session, username, password, roles)
    assert refused.value.field == field


def test_a_taken_username_is_a_conflict(factory: sessionmaker[Session]) -> None:
    with pytest.raises(Conflict), session_scope(factory) as session:
        create_user(session, "li.wei", PASSWORD, ["viewer"])


def test_unknown_user_and_wrong_password_get_the_same_refusal(
        factory: sessionmaker[Session]) -> None:
    with pytest.raises(Unauthenticated) as wrong_password:
        _login(factory, "not the password")
    with pytest.raises(Unauthenticated) as unknown, session_scope(factory) as session:
        authenticate_password(session, "nobody", PASSWORD)
    assert wrong_password.value.reason == unknown.value.reason


def test_five_failures_lock_the_account_for_fifteen_minutes(
        factory: sessionmaker[Session]) -> None:
    start = utcnow()
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(Unauthenticated):
            _login(factory, "guess", now=start)
    with pytest.raises(Unauthenticated, match="locked"):
        _login(factory, PASSWORD, now=start + timedelta(minutes=1))
    assert _login(factory, PASSWORD, now=start + LOCKOUT + timedelta(seconds=1)).name == "li.wei"


def test_a_success_resets_the_failure_count(factory: sessionmaker[Session]) -> None:
    for _ in range(MAX_FAILED_LOGINS - 1):
        with pytest.raises(Unauthenticated):
            _login(factory, "guess")
    _login(factory, PASSWORD)
    for _ in range(MAX_FAILED_LOGINS - 1):
        with pytest.raises(Unauthenticated):
            _login(factory, "guess")
    assert _login(factory, PASSWORD).name == "li.wei"


def test_a_token_is_stored_and_found_by_its_sha256_only(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        token = create_token(session, "li.wei", "cli")
    assert token.startswith("pat_")
    assert len(token) > 40
    with session_scope(factory) as session:
        stored = session.scalars(select(ApiToken)).one()
        assert stored.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
        columns = [getattr(stored, column.key) for column in ApiToken.__table__.columns]
        assert not any(token in str(value) for value in columns)
        assert token not in repr(stored)
        assert stored.token_sha256 not in repr(stored)
    with session_scope(factory) as session:
        assert actor_for_token(session, token).name == "li.wei"
    with session_scope(factory) as session:
        assert session.scalars(select(ApiToken)).one().last_used_at is not None


@pytest.mark.parametrize("presented", [
    "pat_unknown", "not-a-token", "",
])
def test_unknown_tokens_are_refused(factory: sessionmaker[Session], presented: str) -> None:
    with pytest.raises(Unauthenticated), session_scope(factory) as session:
        actor_for_token(session, presented)


def test_the_stored_digest_itself_is_not_a_token(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        create_token(session, "li.wei", "cli")
        digest = session.scalars(select(ApiToken.token_sha256)).one()
    with pytest.raises(Unauthenticated), session_scope(factory) as session:
        actor_for_token(session, digest)
    with pytest.raises(Unauthenticated), session_scope(factory) as session:
        actor_for_token(session, "pat_" + digest)


def test_a_revoked_token_is_refused(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        token = create_token(session, "li.wei", "cli")
    with session_scope(factory) as session:
        assert revoke_token(session, "li.wei", "cli") == 1
    with pytest.raises(Unauthenticated), session_scope(factory) as session:
        actor_for_token(session, token)
