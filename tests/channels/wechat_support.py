"""The WeChat channel's test bench: the simulated API in a thread, a channel on it, a message."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from publisher.cap.model import Alert
from publisher.cap.writer import write_alert
from publisher.channels.base import OutgoingMessage, TargetRef
from publisher.channels.wechat import WechatChannel
from publisher.sample_alert import rainstorm_red_warning
from publisher.sim.wechat import WechatSimConfig, WechatSimulator, WechatSimulatorThread

__all__ = ["APPID", "SECRET", "TEMPLATE_ID", "message", "running_api", "targets",
           "wechat_channel"]

APPID = "wx5f1c0a9e77d3b2aa"
SECRET = "a3f9c6e1d4b7082f5e6a9c3d1b4f7e20"
TEMPLATE_ID = "ALERT-TEMPLATE-1"


@contextmanager
def running_api(**config: Any) -> Iterator[WechatSimulatorThread]:
    """The simulated API with this test's appid and secret, and ``config`` over the defaults."""
    simulator = WechatSimulator(WechatSimConfig(appid=APPID, secret=SECRET, **config))
    running = simulator.start_in_thread()
    try:
        yield running
    finally:
        running.stop()


@contextmanager
def wechat_channel(api: WechatSimulatorThread, **options: Any) -> Iterator[WechatChannel]:
    channel = WechatChannel({"appid": APPID, "secret": SECRET, "template_id": TEMPLATE_ID,
                             "base_url": api.base_url, "timeout": 10, **options})
    try:
        yield channel
    finally:
        channel.close()


def message(alert: Alert | None = None, message_id: int = 1) -> OutgoingMessage:
    alert = alert or rainstorm_red_warning(datetime(2026, 7, 1, 3, 0, tzinfo=UTC))
    return OutgoingMessage(message_id, alert, write_alert(alert), alert.msg_type.value,
                           alert.status.value)


def targets(openids: Mapping[str, str]) -> list[TargetRef]:
    """A target per openid, reading the language given; delivery ids from 1."""
    return [TargetRef(number, number, openid, language, True)
            for number, (openid, language) in enumerate(openids.items(), start=1)]
