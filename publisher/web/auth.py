"""Bearer-token authentication for the staff API.

The web layer only establishes who is calling; what they may do is decided
by the services, which check the actor's roles on every use case.
"""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.typedefs import Handler

from publisher.services.actors import Actor
from publisher.services.errors import Unauthenticated
from publisher.services.users import actor_for_token
from publisher.web.context import ACTOR, in_transaction

__all__ = ["DEVICE_PATH", "NODE_PATH", "PUBLIC_API_PATHS", "STAFF_PREFIX", "auth_middleware",
           "bearer_token", "current_actor"]

STAFF_PREFIX = "/api/"
# What boards and speakers send: they prove who they are with their own
# tokens, checked by those routes (publisher.web.devices), never a staff one.
DEVICE_PATH = re.compile(r"/api/devices/[^/]+/(?:acks|heartbeat)")
# What district nodes call: each proves who it is with its own credential,
# checked by those routes (publisher.web.district_nodes).
NODE_PATH = re.compile(r"/api/nodes/[^/]+/(?:messages|receipts|alerts)")
# Read by anyone, as the public page is: the timeline of the alerts in force.
PUBLIC_API_PATHS = frozenset({"/api/timeline"})
_SCHEME = "bearer"


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization")
    if header is None:
        raise Unauthenticated("a bearer token is required", field="Authorization")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != _SCHEME or not token.strip():
        raise Unauthenticated("expected 'Authorization: Bearer <token>'",
                              field="Authorization")
    return token.strip()


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(STAFF_PREFIX) and request.path not in PUBLIC_API_PATHS \
            and not DEVICE_PATH.fullmatch(request.path) \
            and not NODE_PATH.fullmatch(request.path):
        token = bearer_token(request)
        request[ACTOR] = await in_transaction(
            request, lambda session: actor_for_token(session, token))
    return await handler(request)


def current_actor(request: web.Request) -> Actor:
    return request[ACTOR]
