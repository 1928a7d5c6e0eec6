"""``POST /api/eew``: signed CAP from a registered automatic sender, published at once.

No person's token: the signature is the credential (``publisher.services.eew``).
A refusal answers with the field at fault: 400 for a message that is not a
usable early warning, 401 for a missing or broken signature, 403 for a
message outside the sender's policy, 429 (with ``Retry-After``) over the
rate limit. Once published, the message goes out to the MQTT terminals from
this process at once (``eew_terminals``), then on the early-warning lane
(``eew_lane``), which writes the deliveries and reaches the other channels; a
broker that refuses it leaves the outbox relay to start its ordinary fan-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web
from sqlalchemy.orm import Session

from publisher.cap.districts import DistrictTable, load_districts
from publisher.celery_app import make_celery
from publisher.channels.mqtt import MqttChannel, TopicGroup
from publisher.services.delivery import load_outgoing_message
from publisher.services.eew import RateLimited, receive_eew
from publisher.services.eew_index import REFRESH_SECONDS
from publisher.services.eew_lane import LANE_SWITCH_INTERVAL_SECONDS, EewLaneSender
from publisher.services.eew_policy import EEW_CONFIG_FILE, EewRegister
from publisher.services.eew_terminals import MQTT_CHANNEL, TerminalFastPath, TerminalPlan
from publisher.services.errors import ServiceError
from publisher.store.models import Message
from publisher.web.bodies import CAP_MEDIA_TYPES
from publisher.web.context import SESSIONS, SETTINGS, SIGNER, in_transaction
from publisher.web.devices import DEVICE_CHANNELS
from publisher.web.errors import STATUS_BY_KIND, error_response
from publisher.web.representations import alert_json, json_response, message_json

__all__ = ["EEW_PATH", "add_eew", "routes"]

log = logging.getLogger(__name__)

EEW_PATH = "/api/eew"
EEW_REGISTER = web.AppKey("eew_register", EewRegister)
EEW_LANE = web.AppKey("eew_lane", EewLaneSender)
EEW_DISTRICTS = web.AppKey("eew_districts", DistrictTable)
EEW_TERMINALS = web.AppKey("eew_terminals", TerminalFastPath)

routes = web.RouteTableDef()


async def _open_eew(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[EEW_REGISTER] = EewRegister(settings.paths.config_dir / EEW_CONFIG_FILE,
                                    settings.paths.data_dir)
    await asyncio.to_thread(app[EEW_REGISTER].senders)
    app[EEW_DISTRICTS] = load_districts(settings.paths.districts_file)
    celery = make_celery(settings)
    app[EEW_LANE] = EewLaneSender(celery)
    refreshing = None
    if MQTT_CHANNEL in settings.channels:
        app[EEW_TERMINALS] = TerminalFastPath(
            app[SESSIONS], cast(MqttChannel, app[DEVICE_CHANNELS].get(MQTT_CHANNEL)),
            app[EEW_DISTRICTS])
        refreshing = asyncio.create_task(_keep_terminals_ready(app[EEW_TERMINALS]))
        # The request hands the warning to the MQTT client's network thread and waits
        # for its PUBACKs, a few round trips: at the default 5 ms a thread may hold the
        # GIL, each could cost that much (the lane's reason, in the worker).
        sys.setswitchinterval(LANE_SWITCH_INTERVAL_SECONDS)
    yield
    if refreshing is not None:
        refreshing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refreshing
        await asyncio.to_thread(app[EEW_TERMINALS].close)
    celery.close()


async def _keep_terminals_ready(fast_path: TerminalFastPath) -> None:
    """Connected and indexed before any quake; the index read again every REFRESH_SECONDS."""
    try:
        await asyncio.to_thread(fast_path.warm_up)
    except Exception:  # a cold fast path connects and reads on first use; the lane is there
        log.exception("early-warning fast path to terminals not warmed up")
    while True:
        await asyncio.sleep(REFRESH_SECONDS)
        try:
            await asyncio.to_thread(fast_path.refresh)
        except Exception:  # the previous snapshot stays in use
            log.exception("early-warning terminal index not refreshed")


def add_eew(app: web.Application) -> None:
    app.cleanup_ctx.append(_open_eew)
    app.add_routes(routes)


def _lane_send(request: web.Request, message_id: int, published: Sequence[TopicGroup]) -> str:
    try:
        request.app[EEW_LANE].send(message_id, published)
    except Exception as error:  # the outbox relay starts the ordinary fan-out instead
        log.warning("early warning not put on its lane; the outbox relay sends it",
                    extra={"message_id": message_id, "error": str(error)})
        return "deferred"
    return "lane"


@dataclass(frozen=True, slots=True)
class _Received:
    """A published warning as the request holds it between its steps."""

    message_id: int
    timings: dict[str, float]
    terminals: TerminalPlan | None


def _answer(message_id: int, session: Session) -> dict[str, Any]:
    message = session.get(Message, message_id)
    assert message is not None, message_id
    return {"alert": alert_json(message.alert), "message": message_json(message)}


@routes.post(EEW_PATH)
async def post_eew(request: web.Request) -> web.Response:
    """Commit the message, publish to the terminals, hand on to the lane, then answer.

    The answer's JSON is built last, in a transaction of its own: reading
    the alert for it is no reason to keep a terminal waiting.
    """
    received = time.perf_counter()
    if request.content_type not in CAP_MEDIA_TYPES:
        return error_response(415, "unsupported_media_type", "Content-Type",
                              f"{request.content_type!r}: send application/cap+xml")
    xml = await request.read()
    app = request.app
    fast_path = app.get(EEW_TERMINALS)

    def receive(session: Session) -> _Received | ServiceError:
        outcome = receive_eew(session, xml, app[EEW_REGISTER], app[SIGNER], app[EEW_DISTRICTS])
        if outcome.message is None:
            assert outcome.refusal is not None
            return outcome.refusal
        planned = time.perf_counter()
        plan = None if fast_path is None else fast_path.plan(
            load_outgoing_message(session, outcome.message.id))
        return _Received(outcome.message.id, {
            **outcome.timings,
            "plan_terminals_ms": round((time.perf_counter() - planned) * 1000, 2)}, plan)

    outcome = await in_transaction(request, receive)
    if isinstance(outcome, RateLimited):
        return error_response(429, outcome.kind, outcome.field, outcome.reason,
                              headers={"Retry-After": str(outcome.retry_after)})
    if isinstance(outcome, ServiceError):
        return error_response(STATUS_BY_KIND[outcome.kind], outcome.kind, outcome.field,
                              outcome.reason)
    timings = outcome.timings
    published: list[TopicGroup] = []
    if fast_path is not None and outcome.terminals is not None:
        publish_started = time.perf_counter()
        published = await asyncio.to_thread(fast_path.publish, outcome.terminals)
        timings["terminals_ms"] = round((time.perf_counter() - publish_started) * 1000, 2)
    lane_started = time.perf_counter()
    fanout = await asyncio.to_thread(_lane_send, request, outcome.message_id, published)
    timings["lane_ms"] = round((time.perf_counter() - lane_started) * 1000, 2)
    answer = await in_transaction(request, functools.partial(_answer, outcome.message_id))
    timings["response_ms"] = round((time.perf_counter() - received) * 1000, 2)
    return json_response({**answer, "timings": timings,
                          "terminal_groups_published": len(published), "fanout": fanout},
                         status=201, headers={"Location": answer["alert"]["links"]["self"]})
