"""``POST /api/eew``: signed CAP from a registered automatic sender, published at once.

No person's token: the signature is the credential (``publisher.services.eew``).
A refusal answers with the field at fault: 400 for a message that is not a
usable early warning, 401 for a missing or broken signature, 403 for a
message outside the sender's policy, 429 (with ``Retry-After``) over the
rate limit. Once the center's message is signed, it goes out to the MQTT
terminals from this process at once (``eew_early``, ``eew_terminals``), while
its transaction commits; then on the early-warning lane (``eew_lane``), which
writes the deliveries and reaches the other channels; a broker that refuses
it leaves the outbox relay to start its ordinary fan-out. A warning the
terminals got but the database did not take is answered 202 and stored from
the journal (``eew_journal``, ``eew_recovery``) every ``JOURNAL_ROUND_SECONDS``.
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
from publisher.services.eew import RateLimited, receive_eew
from publisher.services.eew_early import EarlyPublication
from publisher.services.eew_index import REFRESH_SECONDS
from publisher.services.eew_journal import JOURNAL_DIRECTORY, EewJournal
from publisher.services.eew_lane import LANE_SWITCH_INTERVAL_SECONDS, EewLaneSender
from publisher.services.eew_policy import EEW_CONFIG_FILE, EewRegister
from publisher.services.eew_recovery import recover_journal
from publisher.services.eew_terminals import MQTT_CHANNEL, TerminalFastPath
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
EEW_JOURNAL = web.AppKey("eew_journal", EewJournal)
# How often the journal is read for warnings published but not stored.
JOURNAL_ROUND_SECONDS = 5.0

routes = web.RouteTableDef()


async def _open_eew(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[EEW_REGISTER] = EewRegister(settings.paths.config_dir / EEW_CONFIG_FILE,
                                    settings.paths.data_dir)
    await asyncio.to_thread(app[EEW_REGISTER].senders)
    app[EEW_DISTRICTS] = load_districts(settings.paths.districts_file)
    app[EEW_JOURNAL] = EewJournal(settings.paths.data_dir / JOURNAL_DIRECTORY)
    celery = make_celery(settings)
    app[EEW_LANE] = EewLaneSender(celery)
    background = [asyncio.create_task(_keep_journal_stored(app))]
    if MQTT_CHANNEL in settings.channels:
        app[EEW_TERMINALS] = TerminalFastPath(
            app[SESSIONS], cast(MqttChannel, app[DEVICE_CHANNELS].get(MQTT_CHANNEL)),
            app[EEW_DISTRICTS])
        background.append(asyncio.create_task(_keep_terminals_ready(app[EEW_TERMINALS])))
        # The request hands the warning to the MQTT client's network thread and waits
        # for its PUBACKs, a few round trips: at the default 5 ms a thread may hold the
        # GIL, each could cost that much (the lane's reason, in the worker).
        sys.setswitchinterval(LANE_SWITCH_INTERVAL_SECONDS)
    yield
    for task in background:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if EEW_TERMINALS in app:
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


async def _keep_journal_stored(app: web.Application) -> None:
    """Warnings published but never committed (a crash, a failed commit), stored as they age."""
    store = functools.partial(recover_journal, app[SESSIONS], app[EEW_JOURNAL], app[SIGNER])
    while True:
        try:
            await asyncio.to_thread(store)
        except Exception:  # the entries stay for the next round
            log.exception("early-warning journal not read")
        await asyncio.sleep(JOURNAL_ROUND_SECONDS)


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


def _answer(message_id: int, session: Session) -> dict[str, Any]:
    message = session.get(Message, message_id)
    assert message is not None, message_id
    return {"alert": alert_json(message.alert), "message": message_json(message)}


@routes.post(EEW_PATH)
async def post_eew(request: web.Request) -> web.Response:
    """Judge and issue the message; publish to the terminals while it commits; answer.

    The terminals' publication starts as soon as the center's message is
    signed and journalled (``EarlyPublication``), not after the commit: a
    warning's first seconds are the ones that save lives. The lane is handed
    the warning once both are done; the answer's JSON is built last, in a
    transaction of its own.
    """
    received = time.perf_counter()
    if request.content_type not in CAP_MEDIA_TYPES:
        return error_response(415, "unsupported_media_type", "Content-Type",
                              f"{request.content_type!r}: send application/cap+xml")
    xml = await request.read()
    app = request.app
    fast_path = app.get(EEW_TERMINALS)
    early = None if fast_path is None else EarlyPublication(fast_path, app[EEW_JOURNAL],
                                                            received=received)

    def receive(session: Session) -> _Received | ServiceError:
        outcome = receive_eew(session, xml, app[EEW_REGISTER], app[SIGNER], app[EEW_DISTRICTS],
                              watcher=early)
        if outcome.message is None:
            assert outcome.refusal is not None
            return outcome.refusal
        return _Received(outcome.message.id, dict(outcome.timings))

    try:
        outcome = await in_transaction(request, receive)
    except Exception:
        if early is None or not early.started:
            raise
        return await _published_but_not_stored(early)
    if isinstance(outcome, RateLimited):
        return error_response(429, outcome.kind, outcome.field, outcome.reason,
                              headers={"Retry-After": str(outcome.retry_after)})
    if isinstance(outcome, ServiceError):
        return error_response(STATUS_BY_KIND[outcome.kind], outcome.kind, outcome.field,
                              outcome.reason)
    timings = outcome.timings
    published: list[TopicGroup] = []
    if early is not None:
        published = await asyncio.to_thread(early.published)
        timings.update(early.timings)
    lane_started = time.perf_counter()
    fanout = await asyncio.to_thread(_lane_send, request, outcome.message_id, published)
    timings["lane_ms"] = round((time.perf_counter() - lane_started) * 1000, 2)
    answer = await in_transaction(request, functools.partial(_answer, outcome.message_id))
    timings["response_ms"] = round((time.perf_counter() - received) * 1000, 2)
    return json_response({**answer, "timings": timings,
                          "terminal_groups_published": len(published), "fanout": fanout},
                         status=201, headers={"Location": answer["alert"]["links"]["self"]})


async def _published_but_not_stored(early: EarlyPublication) -> web.Response:
    """The terminals have the warning, the database does not: the journal stores it later.

    202, not an error: the sender must not send it again, which would publish
    a second warning for the same quake.
    """
    log.exception("early warning published to terminals but not stored; the journal keeps"
                  " it until the database takes it", extra={"alert_identifier": early.identifier})
    early.abandon()
    return json_response({"identifier": early.identifier, "stored": False,
                          "reason": "published to the terminals; the database did not take"
                                    " it, and it is stored from the journal when it does"},
                         status=202)
