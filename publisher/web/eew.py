"""``POST /api/eew``: signed CAP from a registered automatic sender, published at once.

No person's token: the signature is the credential (``publisher.services.eew``).
A refusal answers with the field at fault: 400 for a message that is not a
usable early warning, 401 for a missing or broken signature, 403 for a
message outside the sender's policy, 429 (with ``Retry-After``) over the
rate limit. Once published, the message goes on the early-warning lane
(``eew_lane``); a broker that refuses it leaves the outbox relay to start its
ordinary fan-out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from publisher.cap.districts import DistrictTable, load_districts
from publisher.celery_app import make_celery
from publisher.services.eew import RateLimited, receive_eew
from publisher.services.eew_lane import EewLaneSender
from publisher.services.eew_policy import EEW_CONFIG_FILE, EewRegister
from publisher.web.bodies import CAP_MEDIA_TYPES
from publisher.web.context import SETTINGS, SIGNER, in_transaction
from publisher.web.errors import STATUS_BY_KIND, error_response
from publisher.web.representations import alert_json, json_response, message_json

__all__ = ["EEW_PATH", "add_eew", "routes"]

log = logging.getLogger(__name__)

EEW_PATH = "/api/eew"
EEW_REGISTER = web.AppKey("eew_register", EewRegister)
EEW_LANE = web.AppKey("eew_lane", EewLaneSender)
EEW_DISTRICTS = web.AppKey("eew_districts", DistrictTable)

routes = web.RouteTableDef()


async def _open_eew(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[EEW_REGISTER] = EewRegister(settings.paths.config_dir / EEW_CONFIG_FILE,
                                    settings.paths.data_dir)
    await asyncio.to_thread(app[EEW_REGISTER].senders)
    app[EEW_DISTRICTS] = load_districts(settings.paths.districts_file)
    celery = make_celery(settings)
    app[EEW_LANE] = EewLaneSender(celery)
    yield
    celery.close()


def add_eew(app: web.Application) -> None:
    app.cleanup_ctx.append(_open_eew)
    app.add_routes(routes)


def _lane_send(request: web.Request, message_id: int) -> str:
    try:
        request.app[EEW_LANE].send(message_id)
    except Exception as error:  # the outbox relay starts the ordinary fan-out instead
        log.warning("early warning not put on its lane; the outbox relay sends it",
                    extra={"message_id": message_id, "error": str(error)})
        return "deferred"
    return "lane"


@routes.post(EEW_PATH)
async def post_eew(request: web.Request) -> web.Response:
    received = time.perf_counter()
    if request.content_type not in CAP_MEDIA_TYPES:
        return error_response(415, "unsupported_media_type", "Content-Type",
                              f"{request.content_type!r}: send application/cap+xml")
    xml = await request.read()
    app = request.app

    def receive(session: Session) -> dict[str, Any]:
        outcome = receive_eew(session, xml, app[EEW_REGISTER], app[SIGNER], app[EEW_DISTRICTS])
        if outcome.message is None:
            return {"refusal": outcome.refusal}
        return {"alert": alert_json(outcome.message.alert),
                "message": message_json(outcome.message), "timings": outcome.timings}

    result = await in_transaction(request, receive)
    refusal = result.pop("refusal", None)
    if isinstance(refusal, RateLimited):
        return error_response(429, refusal.kind, refusal.field, refusal.reason,
                              headers={"Retry-After": str(refusal.retry_after)})
    if refusal is not None:
        return error_response(STATUS_BY_KIND[refusal.kind], refusal.kind, refusal.field,
                              refusal.reason)
    lane_started = time.perf_counter()
    result["fanout"] = await asyncio.to_thread(_lane_send, request, result["message"]["id"])
    result["timings"]["lane_ms"] = round((time.perf_counter() - lane_started) * 1000, 2)
    result["timings"]["response_ms"] = round((time.perf_counter() - received) * 1000, 2)
    return json_response(result, status=201,
                         headers={"Location": result["alert"]["links"]["self"]})
