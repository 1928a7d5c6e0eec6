"""Logging in and out of the staff pages, and choosing their language.

The login form has no session yet, so its CSRF token is a double-submit
one: a random value in a SameSite=Strict cookie and in the form, which must
agree. A wrong password and a locked account are told apart, the lockout
plainly; the services count the failures and audit them.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from publisher.services.errors import Unauthenticated
from publisher.services.staff_sessions import log_in, log_out
from publisher.web.context import in_transaction
from publisher.web.public_query import requested_language
from publisher.web.staff_auth import ALL_ROLES, staff_route
from publisher.web.staff_context import (
    CSRF_FIELD,
    LANGUAGE_COOKIE,
    LANGUAGE_PATH,
    LOGIN_PATH,
    SESSION_COOKIE,
    STAFF_PAGES_PREFIX,
    set_staff_cookie,
    staff_language,
)
from publisher.web.staff_pages import render, render_error
from publisher.web.staff_text import TEXT

__all__ = ["HOME_PATH", "routes"]

HOME_PATH = "/staff/alerts"
LOGIN_CSRF_COOKIE = "staff_login_csrf"
_LOCKED_FIELD = "username"

routes = web.RouteTableDef()


def _next_path(raw: str) -> str:
    """Where to go after logging in: a staff page of this site, never another site."""
    is_staff_page = raw.startswith(STAFF_PAGES_PREFIX) and not raw.startswith("//") \
        and "\\" not in raw and raw != LOGIN_PATH
    return raw if is_staff_page else HOME_PATH


def _login_page(request: web.Request, *, status: int = 200, notice: str | None = None,
                refusal: dict[str, str] | None = None, username: str = "",
                next_path: str = HOME_PATH) -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, "login.html.j2", status=status, notice=notice, refusal=refusal,
                      username=username, next=next_path, login_csrf=token)
    set_staff_cookie(request, response, LOGIN_CSRF_COOKIE, token)
    return response


@routes.get(LOGIN_PATH, name="staff_login")
async def login_form(request: web.Request) -> web.Response:
    notice = "session_expired" if request.query.get("expired") else \
        "logged_out" if request.query.get("out") else None
    return _login_page(request, notice=notice,
                       next_path=_next_path(request.query.get("next", "")))


@routes.post(LOGIN_PATH)
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    expected, given = request.cookies.get(LOGIN_CSRF_COOKIE, ""), form.get(CSRF_FIELD)
    if not expected or not isinstance(given, str) or not secrets.compare_digest(expected, given):
        return render_error(request, 403, "forbidden_title",
                            TEXT[staff_language(request)]["csrf_refused"], CSRF_FIELD)
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    next_path = _next_path(str(form.get("next", "")))
    try:
        signed = await in_transaction(request,
                                      lambda session: log_in(session, username, password))
    except Unauthenticated as refusal:
        locked = refusal.field == _LOCKED_FIELD
        shown = {"key": "login_locked" if locked else "login_wrong",
                 "field": refusal.field or "password",
                 "detail": refusal.reason if locked else ""}
        return _login_page(request, status=401, refusal=shown, username=username,
                           next_path=next_path)
    redirect = web.HTTPSeeOther(next_path)
    set_staff_cookie(request, redirect, SESSION_COOKIE, signed.token)
    redirect.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    raise redirect


@staff_route(routes, "POST", "/staff/logout", ALL_ROLES)
async def logout(request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(SESSION_COOKIE, "")
    await in_transaction(request, lambda session: log_out(session, token))
    redirect = web.HTTPSeeOther(f"{LOGIN_PATH}?out=1")
    redirect.del_cookie(SESSION_COOKIE, path="/")
    raise redirect


@routes.get(LANGUAGE_PATH)
async def choose_language(request: web.Request) -> web.StreamResponse:
    """Open without a session too: the login page offers both languages."""
    language = requested_language(request) or staff_language(request)
    next_path = request.query.get("next", "")
    redirect = web.HTTPSeeOther(next_path if next_path.startswith(LOGIN_PATH)
                                else _next_path(next_path))
    set_staff_cookie(request, redirect, LANGUAGE_COOKIE, language, persistent=True)
    raise redirect


@staff_route(routes, "GET", "/staff/", ALL_ROLES)
async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther(HOME_PATH)
