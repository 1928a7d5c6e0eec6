"""The demo's WeChat: the simulated Official Account API, the demo's followers, the tally.

The simulator (``publisher.sim.wechat``) runs in a thread of the demo's
process at the address the ``wechat`` channel's ``base_url`` names, which
must be the port the demo was given (``--wechat-port``), so the worker's
calls reach it. It knows the channel's appid, secret and template ids, and
posts each message's ``TEMPLATESENDJOBFINISH`` event, signed with the
channel's ``callback_token``, to the demo's own ``/wechat/callback``
``RECEIPT_DELAY`` seconds later; a ``FAILURE_SHARE`` of them say the message
failed, drawn from a fixed seed, so that the demo shows a failed receipt.

The demo's followers of the official account (``DEMO_FOLLOWERS``) are
subscribers like the SMS ones, in Chaoyang and Haidian and in both
languages: the first SMS subscriber of each district follows the account
too (one subscriber, a number and an openid), and one follower in each
district has no number and reads the other language.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.channels.base import DeliveryStatus, PermanentChannelError
from publisher.channels.wechat import client_msg_id
from publisher.channels.wechat_options import WechatOptions
from publisher.cli_errors import UsageError
from publisher.cli_sim_wechat import DEFAULT_PORT
from publisher.config import Settings
from publisher.demo_sms import DEMO_SUBSCRIBERS, reached_addresses
from publisher.services.msisdn import normalise_msisdn
from publisher.services.subscribers import (
    WECHAT_CHANNEL,
    add_contact_point,
    find_subscriber,
    follow_districts,
    new_subscriber,
)
from publisher.sim.wechat import (
    TemplateReceived,
    WechatSimConfig,
    WechatSimulator,
    WechatSimulatorThread,
)
from publisher.store.models import ContactKind, Delivery, Receipt, Target

__all__ = [
    "DEMO_FOLLOWERS",
    "FAILURE_SHARE",
    "RECEIPT_DELAY",
    "DemoWechat",
    "Follower",
    "WechatTally",
    "demo_wechat_options",
    "ensure_followers",
    "reached_openids",
    "wechat_tally",
]

# Seconds from a message to its send-job event: soon, but visibly after the send.
RECEIPT_DELAY = 0.5
FAILURE_SHARE = 0.1
# With this seed, one of the first four events says failed and the next four do not.
_SEED = 2051
_SUCCESS = "success"


@dataclass(frozen=True, slots=True)
class Follower:
    district: str
    language: str
    openid: str
    number: str | None = None
    """The SMS subscriber's number, when the follower is one."""


# Openids are the account's own, 28 characters as WeChat's are.
_ALSO_ON_WECHAT = {"+8613800000101": "oDemoChaoyangZh0000000000001",
                   "+8613800000201": "oDemoHaidianEn00000000000002"}
_WECHAT_ONLY = (Follower("110105", "en-US", "oDemoChaoyangEn0000000000003"),
                Follower("110108", "zh-CN", "oDemoHaidianZh00000000000004"))
DEMO_FOLLOWERS = (*(Follower(district, language, _ALSO_ON_WECHAT[number], number)
                    for district, language, numbers in DEMO_SUBSCRIBERS
                    for number in numbers if number in _ALSO_ON_WECHAT),
                  *_WECHAT_ONLY)


def demo_wechat_options(settings: Settings, port: int) -> WechatOptions | None:
    """The ``wechat`` channel's options, when it is configured, naming the simulator's port."""
    if WECHAT_CHANNEL not in settings.channels:
        return None
    try:
        options = WechatOptions.read(settings.channel_options.get(WECHAT_CHANNEL, {}))
    except PermanentChannelError as error:
        raise UsageError(str(error)) from None
    if urlsplit(options.base_url).port != port:
        raise UsageError(f"channel_options.wechat.base_url: {options.base_url!r} is not the"
                         f" simulator's address: the demo runs it on port {port}; set it to"
                         f" http://127.0.0.1:{port}, or run the demo with the port it names"
                         " (--wechat-port)")
    if options.callback_token is None:
        raise UsageError("channel_options.wechat.callback_token: required by the demo: the"
                         " simulator signs its events with it")
    return options


def ensure_followers(session: Session, *, is_test: bool) -> int:
    """Make the demo followers whose openid nobody has yet; returns how many openids were added.

    A follower with a number gets the openid as a second contact point of the
    SMS subscriber, who stays as they are (one who texted TD stays unsubscribed).
    """
    added = 0
    for follower in DEMO_FOLLOWERS:
        if find_subscriber(session, ContactKind.WECHAT_OPENID, follower.openid) is not None:
            continue
        subscriber = None if follower.number is None else find_subscriber(
            session, ContactKind.MSISDN, normalise_msisdn(follower.number))
        if subscriber is None:
            subscriber = new_subscriber(session, language=follower.language, is_test=is_test)
            add_contact_point(session, subscriber, ContactKind.WECHAT_OPENID, follower.openid)
            follow_districts(session, subscriber, [follower.district])
        else:
            add_contact_point(session, subscriber, ContactKind.WECHAT_OPENID, follower.openid)
        added += 1
    return added


def reached_openids(session: Session, *, test_only: bool) -> list[str]:
    """The demo openids an alert for both demo districts reaches now."""
    return reached_addresses(session, WECHAT_CHANNEL,
                             [follower.openid for follower in DEMO_FOLLOWERS],
                             test_only=test_only)


@dataclass(frozen=True, slots=True)
class _Sent:
    delivery_id: int
    openid: str
    status: DeliveryStatus
    provider_id: str | None
    receipts: int


@dataclass(frozen=True, slots=True)
class WechatTally:
    """A message's WeChat deliveries held against what the simulator took and answered."""

    deliveries: int
    messages: int
    """Template messages the simulator took for those deliveries."""
    one_each: bool
    agreeing: int
    """Deliveries whose one message went to their openid under their provider id, and whose
    status is what its send-job event said."""
    receipts: int
    by_status: dict[str, int]
    failures: dict[str, int]
    """The failed send-job statuses, by status."""


def _sent(session: Session, message_id: int) -> list[_Sent]:
    receipts = (select(Receipt.delivery_id, func.count().label("count"))
                .group_by(Receipt.delivery_id).subquery())
    rows = session.execute(
        select(Delivery.id, Target.address, Delivery.status, Delivery.provider_id,
               func.coalesce(receipts.c.count, 0))
        .join(Target, Target.id == Delivery.target_id)
        .outerjoin(receipts, receipts.c.delivery_id == Delivery.id)
        .where(Delivery.message_id == message_id, Delivery.channel == WECHAT_CHANNEL))
    return [_Sent(*row) for row in rows]


def _agrees(sent: _Sent, taken: list[TemplateReceived]) -> bool:
    if len(taken) != 1:
        return False
    message = taken[0]
    said = DeliveryStatus.DELIVERED if message.status == _SUCCESS else DeliveryStatus.FAILED
    return (message.openid == sent.openid and str(message.msgid) == sent.provider_id
            and sent.status is said and sent.receipts > 0)


def wechat_tally(session: Session, message_id: int,
                 received: list[TemplateReceived]) -> WechatTally:
    """Hold a message's WeChat deliveries against ``received``, the simulator's messages."""
    sent = _sent(session, message_id)
    by_client_id: dict[str | None, list[TemplateReceived]] = collections.defaultdict(list)
    for message in received:
        by_client_id[message.client_msg_id].append(message)
    taken = {item.delivery_id: by_client_id.get(client_msg_id(item.delivery_id), [])
             for item in sent}
    messages = [message for each in taken.values() for message in each]
    return WechatTally(
        deliveries=len(sent), messages=len(messages),
        one_each=all(len(each) == 1 for each in taken.values()),
        agreeing=sum(_agrees(item, taken[item.delivery_id]) for item in sent),
        receipts=sum(item.receipts for item in sent),
        by_status=dict(collections.Counter(item.status.value for item in sent)),
        failures=dict(collections.Counter(message.status for message in messages
                                          if message.status != _SUCCESS)))


class DemoWechat:
    """The simulator, in a thread, posting its events to ``callback_url``; ``stop`` ends it."""

    def __init__(self, options: WechatOptions, callback_url: str) -> None:
        address = urlsplit(options.base_url)
        self.options = options
        self.callback_url = callback_url
        config = WechatSimConfig(
            host=address.hostname or "127.0.0.1", port=address.port or DEFAULT_PORT,
            appid=options.appid, secret=options.secret,
            template_ids=frozenset({options.template_id, *options.template_ids.values()}),
            callback_url=callback_url, callback_token=options.callback_token or "",
            receipt_delay=RECEIPT_DELAY, failure_share=FAILURE_SHARE, seed=_SEED)
        try:
            self.running: WechatSimulatorThread = WechatSimulator(config).start_in_thread()
        except OSError as error:
            raise UsageError(f"--wechat-port: the WeChat simulator cannot listen on"
                             f" {config.host}:{config.port} ({error})") from None

    @property
    def base_url(self) -> str:
        return self.running.base_url

    def received(self) -> list[TemplateReceived]:
        return self.running.received()

    def stop(self) -> None:
        self.running.stop()
