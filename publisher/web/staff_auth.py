"""Who may reach each staff page: the session, the CSRF token and the roles, on the server.

Every ``/staff/`` route but the login page and the static files needs a
live session (else it redirects to the login page, saying when the session
expired); every POST needs the session's CSRF token in the field
``csrf_token`` (else 403); and every route declares the roles that may use
it (else 403 naming them), whatever the page shows or hides. Errors of the
services become pages that name the field and the reason.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from publisher.services.errors import ServiceError
from publisher.services.staff_sessions import SessionEnded, SessionExpired, signed_in
from publisher.store.models import Role
from publisher.web.context import ACTOR, in_transaction
from publisher.web.errors import STATUS_BY_KIND
from publisher.web.staff_context import (
    CSRF_FIELD,
    OPEN_PATHS,
    SESSION_COOKIE,
    STAFF,
    STAFF_PAGES_PREFIX,
    STATIC_PREFIX,
    login_redirect,
    staff_language,
)
from publisher.web.staff_pages import render_error
from publisher.web.staff_text import TEXT

__all__ = ["ALL_ROLES", "STAFF_ROUTES", "StaffRoute", "staff_middleware", "staff_route"]

ALL_ROLES = tuple(Role)
StaffView = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class StaffRoute:
    method: str
    path: str
    roles: tuple[Role, ...]


# Every guarded staff route, as declared: what the server enforces, in one list.
STAFF_ROUTES: list[StaffRoute] = []


class RoleRequired(Exception):
    def __init__(self, roles: tuple[Role, ...]) -> None:
        super().__init__(", ".join(roles))
        self.roles = roles


def staff_route(routes: web.RouteTableDef, method: str, path: str,
                roles: tuple[Role, ...]) -> Callable[[StaffView], StaffView]:
    """Declare a staff view that only a holder of one of ``roles`` may use."""
    def declare(view: StaffView) -> StaffView:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not any(request[STAFF].actor.has_role(role) for role in roles):
                raise RoleRequired(roles)
            return await view(request)

        STAFF_ROUTES.append(StaffRoute(method, path, roles))
        routes.route(method, path, name=view.__name__)(guarded)
        return view
    return declare


def _needs_session(request: web.Request) -> bool:
    return request.path.startswith(STAFF_PAGES_PREFIX) and request.path not in OPEN_PATHS \
        and not request.path.startswith(STATIC_PREFIX)


async def _csrf_holds(request: web.Request) -> bool:
    if request.method in ("GET", "HEAD"):
        return True
    given = (await request.post()).get(CSRF_FIELD)
    return isinstance(given, str) and secrets.compare_digest(given, request[STAFF].csrf_token)


def _role_names(request: web.Request, roles: tuple[Role, ...]) -> str:
    text = TEXT[staff_language(request)]
    return ", ".join(f"{text['role_' + role]} ({role})" for role in roles)


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise login_redirect(request)
    try:
        signed = await in_transaction(request, lambda session: signed_in(session, token))
    except SessionEnded as ended:
        raise login_redirect(request, expired=isinstance(ended, SessionExpired)) from None
    request[STAFF], request[ACTOR] = signed, signed.actor
    if not await _csrf_holds(request):
        text = TEXT[staff_language(request)]
        return render_error(request, 403, "forbidden_title", text["csrf_refused"], CSRF_FIELD)
    try:
        return await handler(request)
    except RoleRequired as refusal:
        text = TEXT[staff_language(request)]
        return render_error(request, 403, "forbidden_title",
                            text["forbidden_role"].format(roles=_role_names(request,
                                                                            refusal.roles)),
                            "role")


@web.middleware
async def staff_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(STAFF_PAGES_PREFIX):
        return await handler(request)
    try:
        if _needs_session(request):
            return await _guarded(request, handler)
        return await handler(request)
    except ServiceError as error:
        return render_error(request, STATUS_BY_KIND[error.kind], "error_title", error.reason,
                            error.field)
