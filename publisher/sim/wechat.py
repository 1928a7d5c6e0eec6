"""A simulated WeChat Official Account API: tokens, template messages and send-job events.

It serves the calls of the real API that the ``wechat`` channel makes:

- ``GET /cgi-bin/token?grant_type=client_credential&appid=&secret=`` issues
  a new token each time, valid ``token_lifetime`` seconds (it says
  ``expires_in``: ``advertised_expires_in``, the lifetime by default, so a
  test can make tokens die before the client expects); a wrong appid is
  40013, a wrong secret 40125. Earlier tokens stay valid until their time.
- ``POST /cgi-bin/message/template/send?access_token=`` takes one template
  message: an unknown token is 40001, an expired one 42001; more than
  ``max_per_second`` messages in the last second is 45009; an openid in
  ``unsubscribed`` is 43004; a ``template_id`` not among ``template_ids``
  (when given) is 40037; no ``touser`` is 40003; a body that is no JSON
  object with a ``data`` object is 47001. A message is answered
  ``{"errcode": 0, "errmsg": "ok", "msgid": N}``; the same ``client_msg_id``
  to the same openid again gets the first one's msgid and is not recorded
  twice.

``receipt_delay`` seconds after a message was taken, a
``TEMPLATESENDJOBFINISH`` event is posted to ``callback_url`` (signed with
``callback_token``, as the platform signs), its ``Status`` ``success``, or,
for a ``failure_share`` of messages, ``failed:user block`` or ``failed:
system failed``; an event the callback does not answer 2xx is posted again,
three times in all.

For tests and the demo: ``GET /sim/messages`` (what was taken),
``GET /sim/stats`` (tokens issued, errcodes answered, events posted),
``POST /sim/tokens/expire`` (every token expires now: 42001),
``POST /sim/tokens/revoke`` (every token is forgotten, as when another
server fetched a newer one: 40001) and ``POST
/sim/unsubscribe`` ``{"openid"}`` (the user unfollows: 43004 from then on,
and an ``unsubscribe`` event to the callback).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import logging
import random
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from publisher.channels.wechat_events import SEND_JOB_FINISHED, UNSUBSCRIBE, event_xml, signature
from publisher.sim.loop_thread import LoopThread
from publisher.sim.served import CallingBackSimulator

__all__ = [
    "FAILED_STATUSES",
    "EventPosted",
    "TemplateReceived",
    "WechatSimConfig",
    "WechatSimulator",
    "WechatSimulatorThread",
]

log = logging.getLogger(__name__)

FAILED_STATUSES = ("failed:user block", "failed: system failed")
_SUCCESS = "success"
_ERRMSG = {
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    45009: "reach max api daily quota limit",
    47001: "data format error",
}


@dataclass(frozen=True, slots=True)
class WechatSimConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port, read it from the simulator's ``port``
    appid: str = "wx0000000000demo"
    secret: str = field(default="demo-app-secret", repr=False)
    token_lifetime: float = 7200.0
    advertised_expires_in: int | None = None
    max_per_second: float | None = None
    unsubscribed: frozenset[str] = frozenset()
    template_ids: frozenset[str] = frozenset()
    callback_url: str | None = None
    callback_token: str = field(default="", repr=False)
    receipt_delay: float = 0.2
    failure_share: float = 0.0
    callback_attempts: int = 3
    callback_retry_interval: float = 1.0
    request_timeout: float = 5.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.token_lifetime <= 0:
            raise ValueError(f"token_lifetime: {self.token_lifetime} is not positive")
        if self.max_per_second is not None and self.max_per_second <= 0:
            raise ValueError(f"max_per_second: {self.max_per_second} is not positive")
        if not 0.0 <= self.failure_share <= 1.0:
            raise ValueError(f"failure_share: {self.failure_share} is outside 0..1")
        if self.receipt_delay < 0:
            raise ValueError(f"receipt_delay: {self.receipt_delay} is negative")
        if self.callback_url is not None and not self.callback_token:
            raise ValueError("callback_token: required with a callback_url (events are signed)")


@dataclass(frozen=True, slots=True)
class TemplateReceived:
    msgid: int
    openid: str
    template_id: str
    data: Mapping[str, Any]
    url: str | None
    client_msg_id: str | None
    status: str  # what its send-job event says


@dataclass(frozen=True, slots=True)
class EventPosted:
    event: str
    msgid: int | None
    status: str | None
    answer: int | None  # the callback's HTTP status to the last attempt; None: unreachable
    attempts: int


def _answer(errcode: int, **fields: Any) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": _ERRMSG.get(errcode, "ok"),
                              **fields})


class WechatSimulator(CallingBackSimulator[WechatSimConfig]):
    """The simulated API; see the module's documentation."""

    kind = "wechat"

    def __init__(self, config: WechatSimConfig) -> None:
        super().__init__(config)
        self.unsubscribed = set(config.unsubscribed)
        self.received: list[TemplateReceived] = []
        self.events: list[EventPosted] = []
        self.errcodes: collections.Counter[int] = collections.Counter()
        self.tokens_issued = 0
        self._tokens: dict[str, float] = {}
        self._by_client_id: dict[tuple[str, str], int] = {}
        self._random = random.Random(config.seed)  # noqa: S311 - a simulated outcome
        self._msgids = itertools.count(self._random.randrange(10**9, 2 * 10**9))

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/cgi-bin/token", self._token)
        router.add_post("/cgi-bin/message/template/send", self._template_send)
        router.add_get("/sim/messages", self._messages)
        router.add_get("/sim/stats", self._stats)
        router.add_post("/sim/tokens/expire", self._expire_tokens)
        router.add_post("/sim/tokens/revoke", self._revoke_tokens)
        router.add_post("/sim/unsubscribe", self._unsubscribe)

    def start_in_thread(self) -> WechatSimulatorThread:
        return WechatSimulatorThread(self)

    # Control -------------------------------------------------------------------

    def expire_tokens(self) -> int:
        """Every token issued so far expires now; how many were still valid."""
        now = time.monotonic()
        valid = sum(1 for until in self._tokens.values() if until > now)
        self._tokens = dict.fromkeys(self._tokens, now)
        return valid

    def revoke_tokens(self) -> int:
        """Forget every token issued so far; how many there were."""
        revoked = len(self._tokens)
        self._tokens.clear()
        return revoked

    def unsubscribe(self, openid: str) -> None:
        """The user unfollows the account: 43004 from now on, and the platform is told."""
        self.unsubscribed.add(openid)
        self._spawn(self._post_event({"Event": UNSUBSCRIBE}, openid, None, None))

    def stats(self) -> dict[str, Any]:
        return {"tokens_issued": self.tokens_issued, "messages": len(self.received),
                "errcodes": {str(code): count for code, count in sorted(self.errcodes.items())},
                "events": [asdict(event) for event in self.events]}

    # The API ---------------------------------------------------------------------

    def _refuse(self, errcode: int) -> web.Response:
        self.errcodes[errcode] += 1
        return _answer(errcode)

    async def _token(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("grant_type") != "client_credential":
            return self._refuse(40002)
        if query.get("appid") != self.config.appid:
            return self._refuse(40013)
        if query.get("secret") != self.config.secret:
            return self._refuse(40125)
        token = secrets.token_urlsafe(48)
        self._tokens[token] = time.monotonic() + self.config.token_lifetime
        self.tokens_issued += 1
        expires_in = self.config.advertised_expires_in or max(1, int(self.config.token_lifetime))
        return web.json_response({"access_token": token, "expires_in": expires_in})

    def _token_errcode(self, token: str | None) -> int | None:
        if not token:
            return 41001
        until = self._tokens.get(token)
        if until is None:
            return 40001
        return 42001 if until <= time.monotonic() else None

    async def _template_send(self, request: web.Request) -> web.Response:
        token_errcode = self._token_errcode(request.query.get("access_token"))
        if token_errcode is not None:
            return self._refuse(token_errcode)
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            return self._refuse(47001)
        openid, template_id = body.get("touser"), body.get("template_id")
        if not isinstance(openid, str) or not openid:
            return self._refuse(40003)
        if self.config.template_ids and template_id not in self.config.template_ids:
            return self._refuse(40037)
        client_msg_id = body.get("client_msg_id")
        repeated = self._by_client_id.get((openid, str(client_msg_id)))
        if client_msg_id and repeated is not None:
            return _answer(0, msgid=repeated)
        if self._over_rate():
            return self._refuse(45009)
        if openid in self.unsubscribed:
            return self._refuse(43004)
        msgid = next(self._msgids)
        status = (self._random.choice(FAILED_STATUSES)
                  if self._random.random() < self.config.failure_share else _SUCCESS)
        self.received.append(TemplateReceived(
            msgid, openid, str(template_id), body["data"], body.get("url"),
            None if client_msg_id is None else str(client_msg_id), status))
        if client_msg_id:
            self._by_client_id[(openid, str(client_msg_id))] = msgid
        self._spawn(self._finish_later(openid, msgid, status))
        return _answer(0, msgid=msgid)

    # Control routes ----------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.Response:
        return web.json_response([asdict(message) for message in self.received])

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _expire_tokens(self, request: web.Request) -> web.Response:
        return web.json_response({"expired": self.expire_tokens()})

    async def _revoke_tokens(self, request: web.Request) -> web.Response:
        return web.json_response({"revoked": self.revoke_tokens()})

    async def _unsubscribe(self, request: web.Request) -> web.Response:
        try:
            openid = (json.loads(await request.read()) or {}).get("openid")
        except (ValueError, AttributeError):
            openid = None
        if not isinstance(openid, str) or not openid:
            return web.json_response({"error": "invalid", "field": "openid",
                                      "reason": "required: a non-empty string"}, status=400)
        self.unsubscribe(openid)
        return web.json_response({"unsubscribed": openid})

    # Events to the platform ------------------------------------------------------------

    async def _finish_later(self, openid: str, msgid: int, status: str) -> None:
        await asyncio.sleep(self.config.receipt_delay)
        await self._post_event({"Event": SEND_JOB_FINISHED, "MsgID": msgid, "Status": status},
                               openid, msgid, status)

    async def _post_event(self, fields: Mapping[str, str | int], openid: str,
                          msgid: int | None, status: str | None) -> None:
        if self.config.callback_url is None:
            return
        body = event_xml({"ToUserName": f"gh_{self.config.appid}", "FromUserName": openid,
                          "CreateTime": int(time.time()), "MsgType": "event", **fields})
        answer, attempts = None, 0
        while attempts < self.config.callback_attempts:
            if attempts:
                await asyncio.sleep(self.config.callback_retry_interval)
            attempts += 1
            answer = await self._post(body)
            if answer is not None and 200 <= answer < 300:
                break
        self.events.append(EventPosted(str(fields["Event"]), msgid, status, answer, attempts))

    async def _post(self, body: bytes) -> int | None:
        assert self.config.callback_url is not None
        timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
        query = {"signature": signature(self.config.callback_token, timestamp, nonce),
                 "timestamp": timestamp, "nonce": nonce}
        try:
            async with self.client.post(self.config.callback_url, params=query, data=body,
                                         headers={"Content-Type": "text/xml"}) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return None


class WechatSimulatorThread(LoopThread[WechatSimulator]):
    """The simulated API on its own event loop in a daemon thread."""

    def __init__(self, simulator: WechatSimulator, start_timeout: float = 10.0) -> None:
        super().__init__(simulator, "wechat-simulator", start_timeout)

    @property
    def base_url(self) -> str:
        return self.simulator.base_url

    def received(self) -> list[TemplateReceived]:
        return self.call(lambda: list(self.simulator.received))

    def events(self) -> list[EventPosted]:
        return self.call(lambda: list(self.simulator.events))

    def stats(self) -> dict[str, Any]:
        return self.call(self.simulator.stats)

    def expire_tokens(self) -> int:
        return self.call(self.simulator.expire_tokens)

    def revoke_tokens(self) -> int:
        return self.call(self.simulator.revoke_tokens)

    def unsubscribe(self, openid: str) -> None:
        self.call(lambda: self.simulator.unsubscribe(openid))
