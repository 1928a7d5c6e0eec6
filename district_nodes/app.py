"""The node's HTTP service: the center's pushes and heartbeats, device acks, district operators.

Routes (docs/district_nodes.md):

- ``POST /api/cap`` and ``POST /api/heartbeat``: the center, with its bearer token;
- ``POST /api/devices/{device_id}/acks``: the node's own devices, each with its token;
- ``POST /api/intake``: the agencies registered with the district, each with its
  credential (``intake_route``);
- ``GET /audio/{key}.wav``: the announcement audio the node's speakers fetch;
- ``GET /api/messages``, ``GET|POST /api/local/alerts`` and
  ``POST /api/local/alerts/{id}/approve``: district operators, with HTTP Basic;
- ``/ui/``: the same for district operators in a browser (``operator_pages``).

On start the node opens its store, catches up from the center, and keeps
posting its outbox and watching for a silent center until it stops.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from sqlalchemy import select

from district_nodes.acks import AckNotRecorded
from district_nodes.center_link import CenterLink
from district_nodes.config import NodeConfig
from district_nodes.intake_route import INTAKE_PATH, answer_intake
from district_nodes.local_alerts import (
    DraftError,
    approve,
    authenticate,
    compose,
    describe,
    listing,
)
from district_nodes.messages import RefusedMessage
from district_nodes.node import DistrictNode, HeartbeatError, pump_sms_receipts
from district_nodes.operator_pages import add_operator_pages
from district_nodes.relay import LocalRelay
from district_nodes.store import StoredMessage, create_schema
from district_nodes.tallies import delivery_counts, recount_tallies
from publisher.channels.base import ReceiptError
from publisher.channels.speaker import AUDIO_MEDIA_TYPE, SpeakerChannel
from publisher.store.db import make_engine, make_session_factory, session_scope
from publisher.web.errors import error_response

__all__ = ["NODE", "create_app"]

log = logging.getLogger(__name__)

NODE = web.AppKey("node", DistrictNode)
CONFIG = web.AppKey("node_config", NodeConfig)
MAX_CAP_BYTES = 1024 * 1024

routes = web.RouteTableDef()


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else ""


def _token_matches(request: web.Request, expected: str) -> bool:
    return hmac.compare_digest(_bearer(request).encode(), expected.encode())


def _refuse_center(request: web.Request) -> web.Response | None:
    if _token_matches(request, request.app[CONFIG].center_token):
        return None
    log.warning("request without the center's token refused",
                extra={"path": request.path, "remote": request.remote})
    return error_response(401, "unauthenticated", "Authorization",
                          "the center's bearer token is required")


@routes.post("/api/cap")
async def take_cap(request: web.Request) -> web.Response:
    refused = _refuse_center(request)
    if refused is not None:
        return refused
    node = request.app[NODE]
    try:
        applied = await node.take_pushed(await request.read())
    except RefusedMessage as error:
        return error_response(403, "forbidden", error.field, error.reason)
    return web.json_response({"ack": "duplicate" if applied.duplicate else "accepted",
                              "sender": applied.key.sender,
                              "identifier": applied.key.identifier,
                              "sent": applied.key.sent, "node": node.config.code})


@routes.post("/api/heartbeat")
async def heartbeat(request: web.Request) -> web.Response:
    refused = _refuse_center(request)
    if refused is not None:
        return refused
    try:
        answer = request.app[NODE].heartbeat(await request.json())
    except ValueError as error:
        field, reason = ((error.field, error.reason) if isinstance(error, HeartbeatError)
                         else ("body", "JSON is required"))
        return error_response(400, "invalid", field, reason)
    return web.json_response(answer)


@routes.post("/api/devices/{device_id}/acks")
async def device_ack(request: web.Request) -> web.Response:
    node = request.app[NODE]
    device_id = request.match_info["device_id"]
    token = node.relay.device_token(device_id)
    if token is None or not _token_matches(request, token):
        return error_response(401, "unauthenticated", "Authorization",
                              "the device's bearer token is required")
    kind = next(device.kind for device in node.config.devices if device.device_id == device_id)
    channel = node.relay.channel(kind)
    assert channel is not None, "a configured device has its channel"
    try:
        receipt = channel.parse_receipt(await request.json())
    except ReceiptError as error:
        return error_response(400, "invalid", error.field, error.reason)
    except ValueError:
        return error_response(400, "invalid", "body", "JSON is required")
    try:
        message_id = await node.acks.record(device_id, receipt)
    except AckNotRecorded as error:
        return error_response(503, "unavailable", "delivery", str(error))
    if message_id is None:
        return error_response(404, "not_found", "delivery",
                              "no delivery of this device has that id")
    return web.json_response({"recorded": receipt.provider_id})


@routes.post(INTAKE_PATH)
async def intake(request: web.Request) -> web.Response:
    return await answer_intake(request, request.app[NODE])


@routes.get(r"/audio/{key:[0-9a-f]{64}}.wav")
async def audio(request: web.Request) -> web.StreamResponse:
    speaker = request.app[NODE].relay.channel("speaker")
    path = (speaker.speech.cache.find(request.match_info["key"])
            if isinstance(speaker, SpeakerChannel) else None)
    if path is None:
        return error_response(404, "not_found", "key", "no audio was made under this key here")
    return web.FileResponse(path, headers={"Content-Type": AUDIO_MEDIA_TYPE})


async def _operator(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:6].lower() != "basic ":
        return None
    try:
        username, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    sessions = request.app[NODE].sessions

    def check() -> bool:
        with session_scope(sessions) as session:
            return authenticate(session, username, password)

    return username if await asyncio.to_thread(check) else None


def _operators_only(view: Callable[[web.Request, str], Awaitable[web.Response]]
                    ) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def guarded(request: web.Request) -> web.Response:
        username = await _operator(request)
        if username is None:
            return error_response(401, "unauthenticated", "Authorization",
                                  "a district user's name and password are required",
                                  headers={"WWW-Authenticate": 'Basic realm="district node"'})
        try:
            return await view(request, username)
        except DraftError as error:
            kinds = {400: "invalid", 403: "forbidden", 404: "not_found", 409: "conflict"}
            return error_response(error.status, kinds[error.status], error.field, error.reason)
    return guarded


async def _messages(request: web.Request, _username: str) -> web.Response:
    node = request.app[NODE]
    with session_scope(node.sessions) as session:
        rows = [{"sender": stored.sender, "identifier": stored.identifier, "sent": stored.sent,
                 "msg_type": stored.msg_type, "origin": stored.origin, "cursor": stored.cursor,
                 "state": stored.state, "counts": delivery_counts(session, stored.id)}
                for stored in session.scalars(select(StoredMessage).order_by(StoredMessage.id))]
    return web.json_response({"node": node.config.code, "messages": rows})


async def _compose(request: web.Request, username: str) -> web.Response:
    node = request.app[NODE]
    try:
        draft = await request.json()
    except ValueError:
        raise DraftError("body", "JSON is required") from None
    with session_scope(node.sessions) as session:
        local = compose(session, username, draft, node.config)
        answer = describe(local, None)
    return web.json_response(answer, status=201)


async def _local_alerts(request: web.Request, _username: str) -> web.Response:
    with session_scope(request.app[NODE].sessions) as session:
        return web.json_response({"alerts": list(listing(session))})


async def _approve(request: web.Request, username: str) -> web.Response:
    node = request.app[NODE]
    local_id = int(request.match_info["alert_id"])
    answer = await node.publish_local(lambda session: approve(session, local_id, username,
                                                                node.config))
    return web.json_response(answer)


def _add_operator_routes(app: web.Application) -> None:
    app.router.add_get("/api/messages", _operators_only(_messages))
    app.router.add_get("/api/local/alerts", _operators_only(_local_alerts))
    app.router.add_post("/api/local/alerts", _operators_only(_compose))
    app.router.add_post(r"/api/local/alerts/{alert_id:\d+}/approve",
                        _operators_only(_approve))


async def _run_node(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    config.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.database_url)
    create_schema(engine)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        recount_tallies(session)
    relay = LocalRelay(config, sessions)
    link = CenterLink(config, sessions)
    await link.open()
    node = DistrictNode(config, sessions, relay, link)
    app[NODE] = node
    node.acks.start()
    node.start_catch_up_when_reachable()
    tasks = [asyncio.create_task(link.post_outbox()), asyncio.create_task(node.watch_for_gaps())]
    if config.sms_group:
        tasks.append(asyncio.create_task(pump_sms_receipts(node)))
    log.info("district node started", extra={"node": config.code,
                                             "devices": len(config.devices),
                                             "sms_group": len(config.sms_group)})
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await node.stop()
    await link.close()
    await asyncio.to_thread(relay.close)
    engine.dispose()


def create_app(config: NodeConfig) -> web.Application:
    app = web.Application(client_max_size=MAX_CAP_BYTES)
    app[CONFIG] = config
    app.add_routes(routes)
    _add_operator_routes(app)
    add_operator_pages(app, NODE, config)
    app.cleanup_ctx.append(_run_node)
    return app
