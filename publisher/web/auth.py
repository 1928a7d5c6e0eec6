"""Authentication for the staff API: a bearer token, or the staff pages' session cookie.

The web layer only establishes who is calling; what they may do is decided
by the services, which check the actor's roles on every use case. A request
with an ``Authorization`` header is judged by its token alone. Without one,
a live staff session cookie stands for its person: reading needs nothing
more, but a write must carry the session's CSRF token in ``X-CSRF-Token``,
since a browser sends the cookie whoever made the page that sends it.
"""

from __future__ import annotations

import re
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler

from publisher.services.actors import Actor
from publisher.services.errors import Forbidden, Unauthenticated
from publisher.services.staff_sessions import SignedIn, signed_in
from publisher.services.users import actor_for_token
from publisher.web.context import ACTOR, in_transaction

__all__ = ["CSRF_HEADER", "DEVICE_PATH", "NODE_PATH", "PUBLIC_API_PATHS", "SESSION_COOKIE",
           "STAFF_PREFIX", "auth_middleware", "bearer_token", "current_actor"]

STAFF_PREFIX = "/api/"
# What boards and speakers send: they prove who they are with their own
# tokens, checked by those routes (publisher.web.devices), never a staff one.
DEVICE_PATH = re.compile(r"/api/devices/[^/]+/(?:acks|heartbeat)")
# What district nodes call: each proves who it is with its own credential,
# checked by those routes (publisher.web.district_nodes).
NODE_PATH = re.compile(r"/api/nodes/[^/]+/(?:messages|receipts|alerts)")
# Read by anyone, as the public page is: the timeline of the alerts in force, and the
# description of this API.
PUBLIC_API_PATHS = frozenset({"/api/timeline", "/api/openapi.json"})
# Where automatic senders post signed CAP: the signature is the credential,
# checked by that route (publisher.web.eew), never a staff token.
SIGNED_API_PATHS = frozenset({"/api/eew"})
# What app backends call: each proves who it is with its app credential,
# checked by those routes (publisher.web.app_stream), never a staff token.
APP_STREAM_PATHS = frozenset({"/api/stream", "/api/stream/acks"})
# What agencies call: each proves who it is with its agency credential,
# checked by those routes (publisher.web.intake), never a staff token.
INTAKE_PATH = re.compile(r"/api/intake(?:/\d+)?")
# The staff pages' session cookie, and the header a write with it carries its CSRF token in.
SESSION_COOKIE = "staff_session"
CSRF_HEADER = "X-CSRF-Token"
_SCHEME = "bearer"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization")
    if header is None:
        raise Unauthenticated("a bearer token is required", field="Authorization")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != _SCHEME or not token.strip():
        raise Unauthenticated("expected 'Authorization: Bearer <token>'",
                              field="Authorization")
    return token.strip()


def _require_csrf_header(request: web.Request, signed: SignedIn) -> None:
    if request.method in _SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER, "")
    if not secrets.compare_digest(given, signed.csrf_token):
        raise Forbidden("a write with the session cookie needs the session's CSRF token",
                        field=CSRF_HEADER)


async def _staff_actor(request: web.Request) -> Actor:
    cookie = request.cookies.get(SESSION_COOKIE)
    if "Authorization" in request.headers or not cookie:
        token = bearer_token(request)
        return await in_transaction(request, lambda session: actor_for_token(session, token))
    signed = await in_transaction(request, lambda session: signed_in(session, cookie))
    _require_csrf_header(request, signed)
    return signed.actor


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(STAFF_PREFIX) \
            and request.path not in PUBLIC_API_PATHS | SIGNED_API_PATHS | APP_STREAM_PATHS \
            and not DEVICE_PATH.fullmatch(request.path) \
            and not NODE_PATH.fullmatch(request.path) \
            and not INTAKE_PATH.fullmatch(request.path):
        request[ACTOR] = await _staff_actor(request)
    return await handler(request)


def current_actor(request: web.Request) -> Actor:
    return request[ACTOR]
