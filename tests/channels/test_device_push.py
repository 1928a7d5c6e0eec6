"""The device push client on real sockets: what goes over the wire, and what each answer becomes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest
from aiohttp import web

from publisher.cap.model import MsgType
from publisher.channels.base import (
    DeliveryStatus,
    PermanentChannelError,
    ReceiptError,
    TargetRef,
)
from publisher.channels.device_push import (
    DeviceOptions,
    DevicePushClient,
    Push,
    expired_result,
    parse_ack,
    provider_id,
    referenced_identifiers,
)
from publisher.local_ports import free_port
from publisher.sample_alert import rainstorm_red_warning
from tests.channels.device_support import served

OPTIONS = DeviceOptions("led", "http://platform.example:8080", timeout=1.0, concurrency=4)


class Devices:
    """Devices that answer by their name: ok (202), refuse (400), busy (503), ..."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, Any]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/devices/{name}/messages", self.take)
        return app

    async def take(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.bodies.append((name, json.loads(await request.read())))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.05)
            return await self.answer(name)
        finally:
            self.in_flight -= 1

    @staticmethod
    async def answer(name: str) -> web.StreamResponse:
        if name == "refuse":
            return web.json_response({"error": "invalid", "field": "pages[0][1]",
                                      "reason": "26 cells; the board has 24 a row"}, status=400)
        if name == "busy":
            return web.Response(status=503, text="restarting")
        if name == "throttled":
            return web.Response(status=429)
        if name == "moved":
            raise web.HTTPMovedPermanently("/elsewhere")
        if name == "slow":
            await asyncio.sleep(5)
        return web.json_response({"accepted": "x"}, status=202)


@pytest.fixture
def devices() -> Iterator[tuple[Devices, str]]:
    stand_in = Devices()
    with served(stand_in.app()) as url:
        yield stand_in, url


@pytest.fixture
def client() -> Iterator[DevicePushClient]:
    pushing = DevicePushClient(timeout=1.0, concurrency=4)
    yield pushing
    pushing.close()


def target(delivery_id: int, endpoint: str, device_id: str | None = "led-110105-01") -> TargetRef:
    return TargetRef(delivery_id, 100 + delivery_id, endpoint, "zh-CN", True, device_id,
                     MappingProxyType({}))


def push(delivery_id: int, endpoint: str) -> Push:
    return Push.to(target(delivery_id, endpoint), OPTIONS, action="show",
                   identifier="110105-QXJ-20240720140000-0001", references=["earlier"],
                   expires=datetime(2024, 7, 20, 20, tzinfo=UTC), fields={"colour": "red"})


def test_the_body_names_delivery_action_references_expiry_and_ack_url(
        devices: tuple[Devices, str], client: DevicePushClient) -> None:
    stand_in, url = devices
    [result] = client.push([push(7, f"{url}/devices/ok/")])
    assert result.status is DeliveryStatus.SENT
    assert result.provider_id == "7" == provider_id(7)
    assert stand_in.bodies == [("ok", {
        "delivery": "7", "action": "show", "identifier": "110105-QXJ-20240720140000-0001",
        "references": ["earlier"], "expires": "2024-07-20T20:00:00+00:00",
        "ack_url": "http://platform.example:8080/api/devices/led-110105-01/acks",
        "colour": "red"})]


@pytest.mark.parametrize(("name", "status", "reason"), [
    ("refuse", DeliveryStatus.FAILED, "HTTP 400: pages[0][1]: 26 cells; the board has 24 a row"),
    ("moved", DeliveryStatus.FAILED, "HTTP 301"),
    ("busy", DeliveryStatus.QUEUED, "HTTP 503: restarting"),
    ("throttled", DeliveryStatus.QUEUED, "HTTP 429"),
    ("slow", DeliveryStatus.QUEUED, "no answer from"),
])
def test_each_answer_becomes_a_result(devices: tuple[Devices, str], client: DevicePushClient,
                                      name: str, status: DeliveryStatus, reason: str) -> None:
    _, url = devices
    [result] = client.push([push(1, f"{url}/devices/{name}")])
    assert result.status is status
    assert result.provider_id is None
    assert reason in (result.error or "")


def test_a_device_that_refuses_connections_is_tried_again_later(
        client: DevicePushClient) -> None:
    [result] = client.push([push(1, f"http://127.0.0.1:{free_port()}/devices/x")])
    assert result.status is DeliveryStatus.QUEUED
    assert "not reachable" in (result.error or "")


def test_an_address_that_is_no_url_fails_for_good(client: DevicePushClient) -> None:
    [result] = client.push([push(1, "not a url")])
    assert result.status is DeliveryStatus.FAILED
    assert (result.error or "").startswith("address:")


def test_a_batch_runs_at_most_concurrency_pushes_at_a_time(
        devices: tuple[Devices, str], client: DevicePushClient) -> None:
    stand_in, url = devices
    results = client.push([push(number, f"{url}/devices/ok") for number in range(1, 21)])
    assert [result.delivery_id for result in results] == list(range(1, 21))
    assert {result.status for result in results} == {DeliveryStatus.SENT}
    assert len(stand_in.bodies) == 20
    assert 1 < stand_in.most_in_flight <= 4
    # The client and its connections outlive a batch.
    assert client.push([push(21, f"{url}/devices/ok")])[0].status is DeliveryStatus.SENT


def test_a_target_without_a_device_cannot_be_pushed() -> None:
    with pytest.raises(PermanentChannelError, match="no registered device"):
        Push.to(target(1, "http://x", device_id=None), OPTIONS, action="show", identifier="i",
                references=[], expires=None, fields={})


@pytest.mark.parametrize(("options", "reason"), [
    ({}, "channel_options.led.callback_url: required"),
    ({"callback_url": "ftp://x"}, "channel_options.led.callback_url: required"),
    ({"callback_url": "http://x", "timeout": 0}, "channel_options.led.timeout:"),
    ({"callback_url": "http://x", "timeout": True}, "channel_options.led.timeout:"),
    ({"callback_url": "http://x", "concurrency": 0}, "channel_options.led.concurrency:"),
    ({"callback_url": "http://x", "concurrency": 2.5}, "channel_options.led.concurrency:"),
])
def test_options_are_checked_naming_the_option(options: dict[str, Any], reason: str) -> None:
    with pytest.raises(PermanentChannelError) as caught:
        DeviceOptions.read("led", options)
    assert caught.value.reason.startswith(reason)


def test_options_read_with_their_defaults() -> None:
    options = DeviceOptions.read("speaker", {"callback_url": "https://alerts.example/"})
    assert options == DeviceOptions("speaker", "https://alerts.example", 5.0, 50)
    assert options.ack_url("spk-1") == "https://alerts.example/api/devices/spk-1/acks"


@pytest.mark.parametrize(("raw", "status", "detail"), [
    ({"delivery": "12", "state": "displaying", "at": "2024-07-20T06:00:01+00:00"},
     DeliveryStatus.DELIVERED, "displaying"),
    ({"delivery": "12", "state": "cleared"}, DeliveryStatus.DELIVERED, "cleared"),
    ({"delivery": "12", "state": "failed", "detail": "panel 3 dark"}, DeliveryStatus.FAILED,
     "failed: panel 3 dark"),
])
def test_acks_become_receipts(raw: dict[str, Any], status: DeliveryStatus, detail: str) -> None:
    receipt = parse_ack(raw, ("displaying", "cleared"))
    assert (receipt.provider_id, receipt.status, receipt.detail) == ("12", status, detail)


@pytest.mark.parametrize(("raw", "field"), [
    ({"state": "displaying"}, "delivery"),
    ({"delivery": "", "state": "displaying"}, "delivery"),
    ({"delivery": "12", "state": "played"}, "state"),
    ({"delivery": "12"}, "state"),
    ({"delivery": "12", "state": "failed", "detail": 3}, "detail"),
])
def test_an_ack_that_cannot_be_understood_names_its_field(raw: dict[str, Any],
                                                          field: str) -> None:
    with pytest.raises(ReceiptError) as caught:
        parse_ack(raw, ("displaying", "cleared"))
    assert caught.value.field == field


def test_an_expired_message_is_not_pushed() -> None:
    now = datetime(2024, 7, 20, 12, tzinfo=UTC)
    assert expired_result(1, None, now) is None
    assert expired_result(1, now + timedelta(seconds=1), now) is None
    result = expired_result(1, now, now)
    assert result is not None
    assert result.status is DeliveryStatus.EXPIRED


def test_references_name_what_an_update_or_cancel_replaces() -> None:
    alert = rainstorm_red_warning(datetime(2024, 7, 20, 6, tzinfo=UTC))
    assert referenced_identifiers(alert) == []
    update = replace(alert, msg_type=MsgType.UPDATE, references=(
        "bjmb@weather.bj.gov.cn,110105-QXJ-20240720140000-0001,2024-07-20T14:00:00+08:00"
        " bjmb@weather.bj.gov.cn,110105-QXJ-20240720130000-0001,2024-07-20T13:00:00+08:00"))
    assert referenced_identifiers(update) == ["110105-QXJ-20240720140000-0001",
                                              "110105-QXJ-20240720130000-0001"]
