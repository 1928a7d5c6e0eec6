"""Fixtures (a pytest plugin) for the staff pages: a fresh installation with one person per
role who can log in, and a client that logs in as any of them and sends forms with the
page's CSRF token."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from publisher.config import Settings
from publisher.store.db import session_scope
from publisher.store.models import (
    Alert,
    AuditEntry,
    Role,
    StaffSession,
    User,
    UserRole,
    utcnow,
)
from publisher.web.app import create_app

__all__ = ["PASSWORD", "STAFF_PEOPLE", "Page", "StaffClient", "staff"]

PASSWORD = "correct horse battery staple"
STAFF_PEOPLE: dict[str, tuple[Role, ...]] = {
    "author": (Role.AUTHOR,),
    "approver": (Role.APPROVER,),
    "author_approver": (Role.AUTHOR, Role.APPROVER),
    "admin": (Role.ADMIN,),
    "operator": (Role.DISTRICT_OPERATOR,),
    "viewer": (Role.VIEWER,),
}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Page:
    status: int
    text: str
    location: str | None

    def csrf(self) -> str:
        found = _CSRF.search(self.text)
        assert found is not None, "the page has no form with a csrf_token"
        return found[1]

    def error_for(self, field: str) -> str | None:
        found = re.search(rf'data-error-for="{re.escape(field)}"[^>]*>([^<]*)', self.text)
        return found[1] if found else None


@dataclass
class StaffClient:
    client: TestClient[Any, Any]
    sessions: sessionmaker[Session]

    async def get(self, path: str) -> Page:
        async with self.client.get(path, allow_redirects=False) as response:
            return Page(response.status, await response.text(), response.headers.get("Location"))

    async def post(self, path: str, form: dict[str, Any] | list[tuple[str, str]], *,
                   csrf: str | None = None) -> Page:
        fields = list(form.items()) if isinstance(form, dict) else list(form)
        if csrf is not None:
            fields.append(("csrf_token", csrf))
        async with self.client.post(path, data=fields, allow_redirects=False) as response:
            return Page(response.status, await response.text(), response.headers.get("Location"))

    async def log_in(self, username: str, password: str = PASSWORD) -> Page:
        """Forget whoever was logged in, then log in as ``username``."""
        self.client.session.cookie_jar.clear()
        form = await self.get("/staff/login")
        return await self.post("/staff/login", {"username": username, "password": password},
                               csrf=form.csrf())

    async def as_user(self, username: str) -> None:
        page = await self.log_in(username)
        assert page.status == 303, page.text

    async def form_post(self, form_path: str, path: str,
                        form: dict[str, Any] | list[tuple[str, str]]) -> Page:
        """Open the page ``form_path`` and post ``form`` to ``path`` with its CSRF token."""
        return await self.post(path, form, csrf=(await self.get(form_path)).csrf())

    def alert(self, alert_id: int) -> Alert:
        with session_scope(self.sessions) as session:
            found = session.get(Alert, alert_id)
            assert found is not None
            return found

    def audited(self, action: str) -> int:
        with session_scope(self.sessions) as session:
            return session.scalar(select(func.count()).select_from(AuditEntry)
                                  .where(AuditEntry.action == action)) or 0

    def age_sessions(self, *, idle: timedelta, age: timedelta = timedelta(0)) -> None:
        """Make every live session look idle for ``idle`` and logged in ``age`` + ``idle`` ago."""
        now = utcnow()
        with session_scope(self.sessions) as session:
            session.execute(update(StaffSession).values(last_seen_at=now - idle,
                                                        created_at=now - idle - age))


@functools.cache
def _password_hash() -> str:
    # Hashed once for every test: argon2 is slow on purpose.
    return PasswordHasher().hash(PASSWORD)


def make_staff(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as session:
        session.add_all(User(username=username, password_hash=_password_hash(),
                             roles=[UserRole(role=role) for role in roles])
                        for username, roles in STAFF_PEOPLE.items())


@pytest_asyncio.fixture
async def staff(aiohttp_client: Any, api_settings: Settings,
                sessions: sessionmaker[Session]) -> StaffClient:
    make_staff(sessions)
    return StaffClient(await aiohttp_client(create_app(api_settings)), sessions)
