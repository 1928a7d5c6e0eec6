"""Devices in the API: the administrator's registry, and what boards, speakers and terminals send.

- ``GET /api/devices``, ``POST /api/devices``, ``GET`` and ``DELETE
  /api/devices/{device_id}``: the registry, for an administrator (the
  services check the role).
- ``POST /api/devices/{device_id}/acks`` and ``.../heartbeat``: a device
  calling in with its own bearer token (the staff authentication leaves
  these paths alone). An ack is the receipt of the device's channel, parsed
  by that channel: one instance per kind in this process
  (``DeviceChannels``), made with the channel options of the configuration
  when the first ack of that kind comes (503 while those options do not
  make a channel). An ack that came before its
  delivery's hand-over was recorded is offered again every
  ``REMATCH_SECONDS`` (``EarlyAcks``). A heartbeat puts back in the queue
  what the device missed (``services.device_replay``) and enqueues it.

At start-up the devices of ``devices.toml`` in the config directory, if
there is one, are registered or brought in line with it. When the ``mqtt``
channel is configured, the terminals' ack listener
(``services.terminal_ack_listener``) runs here too, beside the boards' acks,
for as long as the app runs, and so does their heartbeat listener
(``services.terminal_heartbeat_listener``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from publisher.channels.base import Channel, ChannelError
from publisher.channels.mqtt_client import BrokerOptions
from publisher.channels.registry import create_channel
from publisher.config import Settings
from publisher.services.device_import import DEVICES_CONFIG_FILE, apply_configured_devices
from publisher.services.device_receipts import (
    EarlyAcks,
    RecordedAck,
    record_ack,
    record_heartbeat,
)
from publisher.services.device_replay import Replay, requeue_missed
from publisher.services.devices import (
    DeviceView,
    add_device_as_staff,
    authenticate_device,
    device_for_staff,
    device_view,
    list_devices_as_staff,
    remove_device_as_staff,
)
from publisher.services.errors import InvalidInput
from publisher.services.terminal_ack_listener import TerminalAckListener, listener_client_id
from publisher.services.terminal_heartbeat_listener import (
    TerminalHeartbeatListener,
    heartbeat_client_id,
)
from publisher.store.db import session_scope
from publisher.store.models import DeviceKind, ReceiptOutcome
from publisher.web.api import PER_PAGE, page_number
from publisher.web.auth import bearer_token, current_actor
from publisher.web.bodies import read_json_object
from publisher.web.context import FANOUT, SESSIONS, SETTINGS, in_transaction
from publisher.web.errors import error_response
from publisher.web.representations import json_response
from publisher.web.subscribers import DISTRICT_NAMES

__all__ = [
    "DEVICE_CHANNELS",
    "EARLY_ACKS",
    "REMATCH_SECONDS",
    "DeviceChannels",
    "device_json",
    "open_devices",
    "routes",
]

log = logging.getLogger(__name__)

REMATCH_SECONDS = 0.25


class DeviceChannels:
    """The channel of each kind of device in this process, made when first asked for."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._made: dict[str, Channel[Any]] = {}

    def get(self, name: str) -> Channel[Any]:
        with self._lock:
            if name not in self._made:
                self._made[name] = create_channel(name, self._settings.channel_options.get(name))
            return self._made[name]

    def close(self) -> None:
        with self._lock:
            made, self._made = list(self._made.values()), {}
        for channel in made:
            channel.close()


DEVICE_CHANNELS = web.AppKey("device_channels", DeviceChannels)
EARLY_ACKS = web.AppKey("early_acks", EarlyAcks)

routes = web.RouteTableDef()


def _load_configured(app: web.Application) -> None:
    path = app[SETTINGS].paths.config_dir / DEVICES_CONFIG_FILE
    if not path.exists():
        return
    with session_scope(app[SESSIONS]) as session:
        report = apply_configured_devices(session, path, app[DISTRICT_NAMES])
    for error in report.errors:
        log.error("configured device refused", extra={"file": str(path), "entry": error.entry,
                                                      "field": error.field,
                                                      "reason": error.reason})
    log.info("configured devices applied", extra={
        "file": str(path), "added": report.created, "updated": report.updated,
        "unchanged": report.unchanged, "refused": len(report.errors)})


async def _rematch_early_acks(app: web.Application) -> None:
    early, channels, sessions = app[EARLY_ACKS], app[DEVICE_CHANNELS], app[SESSIONS]
    while True:
        await asyncio.sleep(REMATCH_SECONDS)
        if not len(early):
            continue
        try:
            await asyncio.to_thread(early.rematch, sessions, channels.get, time.monotonic())
        except Exception:  # the next round tries again; one failure must not end the loop
            log.exception("device acks not matched this round")


def _terminal_ack_listener(app: web.Application) -> TerminalAckListener | None:
    settings = app[SETTINGS]
    channel = DeviceKind.TERMINAL.channel
    if channel not in settings.channels:
        return None
    options = settings.channel_options.get(channel, {})
    channels = app[DEVICE_CHANNELS]
    return TerminalAckListener(BrokerOptions.read(options), listener_client_id(options),
                               app[SESSIONS], lambda: channels.get(channel), app[EARLY_ACKS])


def _terminal_heartbeat_listener(app: web.Application) -> TerminalHeartbeatListener | None:
    settings = app[SETTINGS]
    channel = DeviceKind.TERMINAL.channel
    if channel not in settings.channels:
        return None
    return TerminalHeartbeatListener(BrokerOptions.read(settings.channel_options.get(channel, {})),
                                     heartbeat_client_id(), app[SESSIONS])


async def open_devices(app: web.Application) -> AsyncIterator[None]:
    """The device channels, the early acks' rematching, the terminals' ack and heartbeat
    listeners."""
    await asyncio.to_thread(_load_configured, app)
    app[DEVICE_CHANNELS] = DeviceChannels(app[SETTINGS])
    app[EARLY_ACKS] = EarlyAcks()
    rematching = asyncio.create_task(_rematch_early_acks(app))
    listener = _terminal_ack_listener(app)
    heartbeats = _terminal_heartbeat_listener(app)
    for running in (listener, heartbeats):
        if running is not None:
            running.start()
    yield
    for running in (heartbeats, listener):
        if running is not None:
            await asyncio.to_thread(running.stop)
    rematching.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await rematching
    await asyncio.to_thread(app[DEVICE_CHANNELS].close)


def device_json(view: DeviceView) -> dict[str, Any]:
    device, target = view.device, view.device.target
    return {
        "device_id": device.device_id,
        "kind": device.kind.value,
        "name": device.name,
        "endpoint": None if device.sector is not None else target.address,
        "sector": device.sector,
        "district_code": target.district_code,
        "lon": target.lon,
        "lat": target.lat,
        "language": target.language,
        "is_test": target.is_test,
        "capabilities": device.capabilities,
        "heartbeat_interval": device.heartbeat_interval,
        "health": view.health.value,
        "offline": view.offline,
        "last_seen_at": device.last_seen_at.isoformat() if device.last_seen_at else None,
        "created_at": device.created_at.isoformat(),
    }


def _offline_only(request: web.Request) -> bool:
    raw = request.query.get("offline", "false")
    if raw not in ("true", "false"):
        raise InvalidInput(f"must be true or false, not {raw!r}", field="offline")
    return raw == "true"


@routes.get("/api/devices")
async def list_devices(request: web.Request) -> web.Response:
    actor, page = current_actor(request), page_number(request)
    kind, offline_only = request.query.get("kind") or None, _offline_only(request)

    def listing(session: Session) -> dict[str, Any]:
        found = list_devices_as_staff(session, actor, kind=kind, offline_only=offline_only,
                                      page=page, per_page=PER_PAGE)
        return {"devices": [device_json(view) for view in found.items], "page": page,
                "per_page": PER_PAGE, "total": found.total}

    return json_response(await in_transaction(request, listing))


@routes.post("/api/devices")
async def add_device(request: web.Request) -> web.Response:
    actor, districts = current_actor(request), request.app[DISTRICT_NAMES]
    fields = await read_json_object(request)

    def adding(session: Session) -> dict[str, Any]:
        added = add_device_as_staff(session, actor, fields, districts)
        return {"device": device_json(device_view(added.device)), "token": added.token}

    body = await in_transaction(request, adding)
    return json_response(body, status=201,
                         headers={"Location": f"/api/devices/{body['device']['device_id']}"})


@routes.get("/api/devices/{device_id}")
async def get_device(request: web.Request) -> web.Response:
    actor, device_id = current_actor(request), request.match_info["device_id"]
    return json_response(await in_transaction(request, lambda session: device_json(
        device_for_staff(session, actor, device_id))))


@routes.delete("/api/devices/{device_id}")
async def remove_device(request: web.Request) -> web.Response:
    actor, device_id = current_actor(request), request.match_info["device_id"]
    await in_transaction(request, lambda session: remove_device_as_staff(
        session, actor, device_id))
    return json_response({"device_id": device_id, "removed": True})


@routes.post("/api/devices/{device_id}/acks")
async def device_ack(request: web.Request) -> web.Response:
    device_id, token = request.match_info["device_id"], bearer_token(request)
    body = await read_json_object(request)
    channels = request.app[DEVICE_CHANNELS]

    def recording(session: Session) -> tuple[str, RecordedAck]:
        device = authenticate_device(session, device_id, token)
        return device.kind.channel, record_ack(session, device,
                                               channels.get(device.kind.channel), body)

    try:
        kind, recorded = await in_transaction(request, recording)
    except ChannelError as error:
        # A configuration fault of this process, not the device's: its ack is
        # refused as unavailable, to be sent again, never stored as invalid.
        return error_response(503, "unavailable", "channel", error.reason)
    if recorded.refusal is not None:
        return error_response(400, "invalid", recorded.refusal.field, recorded.refusal.reason)
    if recorded.outcome is ReceiptOutcome.UNKNOWN and recorded.provider_id is not None:
        request.app[EARLY_ACKS].keep(kind, recorded.provider_id, time.monotonic())
    return json_response({"delivery": recorded.provider_id, "outcome": recorded.outcome.value})


@routes.post("/api/devices/{device_id}/heartbeat")
async def device_heartbeat(request: web.Request) -> web.Response:
    device_id, token = request.match_info["device_id"], bearer_token(request)
    body = await read_json_object(request, empty_ok=True)

    def beating(session: Session) -> tuple[dict[str, Any], Replay]:
        device = authenticate_device(session, device_id, token)
        came_back = record_heartbeat(device, body)
        # record_heartbeat has checked "showing"; what the device missed goes back in the queue.
        replay = requeue_missed(session, device, body.get("showing", []), came_back=came_back)
        return {"device_id": device.device_id, "heartbeat_interval": device.heartbeat_interval,
                "last_seen_at": device.last_seen_at.isoformat() if device.last_seen_at
                else None}, replay

    answer, replay = await in_transaction(request, beating)
    await request.app[FANOUT].resend(replay.channel, replay.delivery_ids)
    return json_response(answer)
