"""Webhook push to apps: signed, retried until a 2xx, and the 2xx is the receipt."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from publisher.channels.app_push import AppChannel
from publisher.channels.app_signature import SignatureError, signed_headers, verify_push
from publisher.channels.base import TransientChannelError
from publisher.services.app_events import AppHandOver
from publisher.services.delivery import fan_out, send_batch
from publisher.store.db import session_scope
from publisher.store.models import Delivery, DeliveryStatus
from tests.integration import app_stream_support
from tests.integration.api_client import Api
from tests.integration.app_stream_support import register
from tests.integration.fanout_support import publish

pytestmark = pytest.mark.asyncio

admin_api = app_stream_support.admin_api


class Receiver:
    """An app's webhook: answers 503 ``failures`` times, then 204; keeps what it verified."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.secret = ""
        self.verified: list[dict[str, Any]] = []
        self.refused: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify_push(self.secret, request.headers, body, time.time())
        except SignatureError as error:
            self.refused.append(error.field)
            return web.json_response({"field": error.field, "reason": error.reason},
                                     status=401)
        if self.failures:
            self.failures -= 1
            return web.Response(status=503, text="restarting")
        self.verified.append(json.loads(body))
        return web.Response(status=204)


async def _receiver(failures: int) -> tuple[Receiver, TestServer]:
    receiver = Receiver(failures)
    application = web.Application()
    application.router.add_post("/hook", receiver.handle)
    server = TestServer(application)
    await server.start_server()
    return receiver, server


async def test_a_webhook_push_is_signed_and_retried_until_a_2xx(admin_api: Api) -> None:
    receiver, server = await _receiver(failures=2)
    try:
        registered = await register(admin_api, "hook-app", mode="webhook",
                                    webhook_url=str(server.make_url("/hook")))
        receiver.secret = registered["webhook_secret"]
        with admin_api.sessions() as session:
            message_id = publish(session).id
        channel = AppChannel({"hand_over": AppHandOver(admin_api.sessions)})
        batches: list[list[int]] = []
        fan_out(admin_api.sessions, message_id, 100, lambda _c, ids: batches.append(ids),
                channels=("app",))
        (batch,) = batches
        attempts = 0
        while True:
            attempts += 1
            try:
                await asyncio.to_thread(send_batch, admin_api.sessions, channel, batch)
                break
            except TransientChannelError:
                assert attempts < 10
        assert attempts == 3
        (pushed,) = receiver.verified
        assert pushed["app"] == "hook-app" and "SignatureValue" in pushed["cap"]
        with session_scope(admin_api.sessions) as session:
            delivery = session.scalars(select(Delivery).where(
                Delivery.message_id == message_id)).one()
            assert delivery.status is DeliveryStatus.DELIVERED
            assert delivery.attempts == 3
    finally:
        await server.close()


async def test_a_forged_or_replayed_push_is_refused_by_the_receiver() -> None:
    receiver, server = await _receiver(failures=0)
    receiver.secret = "whsec_the-apps-own"
    body = json.dumps({"event": 1}).encode()
    now = int(time.time())
    cases = {
        "forged": signed_headers("whsec_somebody-elses", now, body),
        "replayed": signed_headers(receiver.secret, now - 3600, body),
        "unsigned": {},
    }
    try:
        async with aiohttp.ClientSession() as client:
            for headers in cases.values():
                async with client.post(server.make_url("/hook"), data=body,
                                       headers=headers) as response:
                    assert response.status == 401
            good = signed_headers(receiver.secret, now, body)
            async with client.post(server.make_url("/hook"), data=body,
                                   headers=good) as response:
                assert response.status == 204
            tampered = body.replace(b"1", b"2")
            async with client.post(server.make_url("/hook"), data=tampered,
                                   headers=good) as response:
                assert response.status == 401
    finally:
        await server.close()
    assert receiver.refused == ["X-Publisher-Signature", "X-Publisher-Timestamp",
                                "X-Publisher-Timestamp", "X-Publisher-Signature"]
    assert receiver.verified == [{"event": 1}]
