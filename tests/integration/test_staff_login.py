"""Logging in to the staff pages: the cookie, wrong passwords, the lockout, CSRF on the login
form, logging out, and sessions that expire."""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest

from publisher.config import load_settings
from publisher.services.staff_sessions import ABSOLUTE_LIFETIME, IDLE_TIMEOUT
from publisher.services.users import MAX_FAILED_LOGINS
from publisher.store.db import make_engine, make_session_factory, upgrade_database
from publisher.web.app import create_app
from tests.integration.staff_support import PASSWORD, StaffClient, make_staff, staff

__all__ = ["staff"]

pytestmark = pytest.mark.asyncio


def _cookie(page_headers: Any, name: str) -> Any:
    for header in page_headers.getall("Set-Cookie", []):
        parsed = SimpleCookie(header)
        if name in parsed:
            return parsed[name]
    raise AssertionError(f"no Set-Cookie for {name}")


async def test_login_sets_a_strict_http_only_session_cookie(staff: StaffClient) -> None:
    form = await staff.get("/staff/login")
    async with staff.client.post("/staff/login", allow_redirects=False, data={
            "username": "author", "password": PASSWORD, "csrf_token": form.csrf(),
            "next": "/staff/compose"}) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/staff/compose"
        cookie = _cookie(response.headers, "staff_session")
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert not cookie["secure"]
    page = await staff.get("/staff/alerts")
    assert page.status == 200
    assert 'data-user>author<' in page.text
    assert staff.audited("login") == 1


async def test_a_wrong_password_is_refused_and_audited(staff: StaffClient) -> None:
    page = await staff.log_in("author", "not the password")
    assert page.status == 401
    assert "Wrong username or password" in page.text or "用户名或密码错误" in page.text
    assert (await staff.get("/staff/alerts")).status == 303
    assert staff.audited("login_refused") == 1


async def test_repeated_failures_lock_the_account(staff: StaffClient) -> None:
    for _ in range(MAX_FAILED_LOGINS):
        assert (await staff.log_in("approver", "guess")).status == 401
    locked = await staff.log_in("approver")
    assert locked.status == 401
    assert 'data-field="username"' in locked.text
    assert "locked" in locked.text or "锁定" in locked.text
    assert staff.audited("account_locked") == 1
    assert (await staff.log_in("author")).status == 303, "another account is not locked"


async def test_the_login_form_needs_its_csrf_token(staff: StaffClient) -> None:
    await staff.get("/staff/login")
    page = await staff.post("/staff/login", {"username": "author", "password": PASSWORD})
    assert page.status == 403
    assert 'data-field="csrf_token"' in page.text


async def test_logging_out_ends_the_session(staff: StaffClient) -> None:
    await staff.as_user("viewer")
    alerts = await staff.get("/staff/alerts")
    page = await staff.post("/staff/logout", {}, csrf=alerts.csrf())
    assert page.status == 303
    assert page.location == "/staff/login?out=1"
    assert (await staff.get("/staff/alerts")).status == 303
    assert staff.audited("logout") == 1


@pytest.mark.parametrize(("idle", "age"), [(IDLE_TIMEOUT + timedelta(minutes=1), timedelta(0)),
                                           (timedelta(minutes=1), ABSOLUTE_LIFETIME)])
async def test_an_expired_session_is_sent_to_the_login_page(
        staff: StaffClient, idle: timedelta, age: timedelta) -> None:
    await staff.as_user("author")
    staff.age_sessions(idle=idle, age=age)
    page = await staff.get("/staff/compose")
    assert page.status == 303
    assert page.location is not None
    assert page.location.startswith("/staff/login?")
    assert "expired=1" in page.location
    login = await staff.get(page.location)
    assert "expired" in login.text or "过期" in login.text


async def test_a_fresh_session_is_not_expired(staff: StaffClient) -> None:
    await staff.as_user("author")
    staff.age_sessions(idle=IDLE_TIMEOUT - timedelta(minutes=2))
    assert (await staff.get("/staff/compose")).status == 200


async def test_the_cookie_is_secure_when_the_public_url_is_https(
        aiohttp_client: Any, tmp_path: Path) -> None:
    config = tmp_path / "publisher.toml"
    config.write_text('[channel_options.feed]\npublic_url = "https://alerts.example.gov.cn"\n')
    settings = load_settings({"PUBLISHER_CONFIG": str(config)}, data_dir=tmp_path)
    upgrade_database(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        make_staff(make_session_factory(engine))
    finally:
        engine.dispose()
    client = await aiohttp_client(create_app(settings))
    async with client.get("/staff/login") as response:
        token = _cookie(response.headers, "staff_login_csrf")
        assert token["secure"] is True
