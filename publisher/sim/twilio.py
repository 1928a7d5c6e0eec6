"""A simulated Twilio-compatible Messages API: texts, signed status callbacks, inbound texts.

It serves what the SMS channel's REST routes call:

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP basic
  auth (AccountSid, AuthToken; anything else is 401, error 20003) and the
  form fields ``To``, ``From`` or ``MessagingServiceSid``, ``Body`` and
  ``StatusCallback``. A text is answered 201 with an ``SM`` + 32 hex sid,
  ``status`` queued and ``num_segments`` (GSM 160/153, else UCS-2 70/67
  characters per segment). More than ``max_per_second`` texts in the last
  second are 429, error 20429; while the fault is ``error`` every text is
  500. A ``To`` that is no E.164 number is 400, error 21211; a number in
  ``refusals`` is refused with its code at once (400: 21610, 21614...).
- ``GET /2010-04-01/Accounts/{AccountSid}.json``: the account (the health check).

After a taken text, its status callbacks go to its ``StatusCallback``,
``callback_delay`` seconds apart, signed with the AuthToken as the provider
signs (``X-Twilio-Signature``): ``sent`` then ``delivered``, or
``undelivered`` with the code of a number in ``failures`` (30003, 30005,
30006, 30007...) or, for a ``failure_share`` of texts, 30003. For an
``out_of_order_share`` of texts the final state comes before ``sent``;
for a ``duplicate_share`` the final state is posted twice.

``inject_inbound`` (and ``POST /sim/inbound`` with ``From`` and ``Body``)
texts the platform as a phone does: a signed post to ``inbound_url``, whose
TwiML answer is returned. ``GET /sim/messages`` lists every text taken,
which is also appended to ``log_path`` (JSON lines) when given, to
reconcile; ``POST /sim/fault`` with ``mode`` none or error changes the fault.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import json
import logging
import math
import random
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType

import aiohttp
from aiohttp import web

from publisher.channels.twilio_signature import SIGNATURE_HEADER, twilio_signature
from publisher.sim.loop_thread import LoopThread
from publisher.sim.served import CallingBackSimulator

__all__ = ["CallbackPosted", "TextTaken", "TwilioFault", "TwilioSimConfig", "TwilioSimulator",
           "TwilioSimulatorThread"]

log = logging.getLogger(__name__)

DEMO_ACCOUNT_SID = "AC" + "0" * 31 + "1"
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_UNREACHABLE = 30003


class TwilioFault(enum.StrEnum):
    NONE = "none"
    ERROR = "error"  # every text is answered 500


@dataclass(frozen=True, slots=True)
class TwilioSimConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port, read it from the simulator's ``port``
    account_sid: str = DEMO_ACCOUNT_SID
    auth_token: str = field(default="demo-auth-token", repr=False)
    max_per_second: float | None = None
    callback_delay: float = 0.2
    failure_share: float = 0.0
    out_of_order_share: float = 0.0
    duplicate_share: float = 0.0
    failures: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    refusals: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    inbound_url: str | None = None
    service_number: str = "+12379"
    log_path: Path | None = None
    request_timeout: float = 5.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_per_second is not None and self.max_per_second <= 0:
            raise ValueError(f"max_per_second: {self.max_per_second} is not positive")
        for name in ("failure_share", "out_of_order_share", "duplicate_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: {getattr(self, name)} is outside 0..1")
        if self.callback_delay < 0:
            raise ValueError(f"callback_delay: {self.callback_delay} is negative")


@dataclass(frozen=True, slots=True)
class TextTaken:
    sid: str
    to: str
    sender: str
    body: str
    num_segments: int
    statuses: tuple[str, ...]  # the callbacks it gets, in the order they are posted
    error_code: int | None
    accepted_at: float


@dataclass(frozen=True, slots=True)
class CallbackPosted:
    sid: str
    status: str
    answer: int | None  # the platform's HTTP status; None: unreachable


def num_segments(body: str) -> int:
    if all(ord(character) < 128 for character in body):
        return 1 if len(body) <= 160 else math.ceil(len(body) / 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message, "status": status,
                              "more_info": f"https://www.twilio.com/docs/errors/{code}"},
                             status=status)


class TwilioSimulator(CallingBackSimulator[TwilioSimConfig]):
    """The simulated API; see the module's documentation."""

    kind = "twilio"

    def __init__(self, config: TwilioSimConfig) -> None:
        super().__init__(config)
        self.fault = TwilioFault.NONE
        self.taken: list[TextTaken] = []
        self.callbacks: list[CallbackPosted] = []
        self.answered: collections.Counter[int] = collections.Counter()
        self._random = random.Random(config.seed)  # noqa: S311 - a simulated outcome

    def add_routes(self, router: web.UrlDispatcher) -> None:
        account = f"/2010-04-01/Accounts/{self.config.account_sid}"
        router.add_post(f"{account}/Messages.json", self._message)
        router.add_get(f"{account}.json", self._account)
        router.add_get("/sim/messages", self._messages)
        router.add_post("/sim/inbound", self._inbound)
        router.add_post("/sim/fault", self._fault)

    def start_in_thread(self) -> TwilioSimulatorThread:
        return TwilioSimulatorThread(self)

    # The API ---------------------------------------------------------------------

    def _authenticated(self, request: web.Request) -> bool:
        try:
            given = aiohttp.BasicAuth.decode(request.headers.get("Authorization", ""))
        except ValueError:
            return False
        return (given.login, given.password) == (self.config.account_sid,
                                                 self.config.auth_token)

    def _refused(self, status: int, code: int, message: str) -> web.Response:
        self.answered[status] += 1
        return _error(status, code, message)

    async def _account(self, request: web.Request) -> web.Response:
        if not self._authenticated(request):
            return self._refused(401, 20003, "Authenticate")
        return web.json_response({"sid": self.config.account_sid, "status": "active"})

    async def _message(self, request: web.Request) -> web.Response:
        if not self._authenticated(request):
            return self._refused(401, 20003, "Authenticate")
        if self.fault is TwilioFault.ERROR:
            return self._refused(500, 20500, "Internal Server Error")
        if self._over_rate():
            return self._refused(429, 20429, "Too Many Requests")
        form = await request.post()
        to, body = str(form.get("To", "")), str(form.get("Body", ""))
        sender = str(form.get("From") or form.get("MessagingServiceSid") or "")
        if not sender:
            return self._refused(400, 21603, "A 'From' or 'MessagingServiceSid' is required")
        if not body:
            return self._refused(400, 21602, "Message body is required")
        if not _E164.fullmatch(to):
            return self._refused(400, 21211, "The 'To' number is not a valid phone number")
        if to in self.config.refusals:
            return self._refused(400, self.config.refusals[to], "Refused for this number")
        text = self._taken(to, sender, body)
        callback = form.get("StatusCallback")
        if isinstance(callback, str) and callback:
            self._spawn(self._post_statuses(callback, text))
        self.answered[201] += 1
        return web.json_response({
            "sid": text.sid, "account_sid": self.config.account_sid, "to": to,
            "from": sender, "body": body, "status": "queued",
            "num_segments": str(text.num_segments), "error_code": None}, status=201)

    def _taken(self, to: str, sender: str, body: str) -> TextTaken:
        code = self.config.failures.get(to)
        if code is None and self._random.random() < self.config.failure_share:
            code = _UNREACHABLE
        statuses = ["sent", "delivered" if code is None else "undelivered"]
        if self._random.random() < self.config.out_of_order_share:
            statuses.reverse()
        if self._random.random() < self.config.duplicate_share:
            statuses.append(statuses[-1] if statuses[-1] != "sent" else statuses[0])
        text = TextTaken(f"SM{self._random.getrandbits(128):032x}", to, sender, body,
                         num_segments(body), tuple(statuses), code, time.time())
        self.taken.append(text)
        if self.config.log_path is not None:
            with self.config.log_path.open("a", encoding="utf-8") as log_file:
                log_file.write(json.dumps(asdict(text), ensure_ascii=False) + "\n")
        return text

    # Control ---------------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.Response:
        return web.json_response([asdict(text) for text in self.taken])

    async def _fault(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            self.fault = TwilioFault(str(form.get("mode", "")))
        except ValueError:
            return web.json_response({"error": "invalid", "field": "mode",
                                      "reason": "is not none or error"}, status=400)
        return web.json_response({"mode": self.fault.value})

    async def _inbound(self, request: web.Request) -> web.Response:
        form = await request.post()
        answer = await self.inject_inbound(str(form.get("From", "")), str(form.get("Body", "")))
        return web.Response(text=answer, content_type="application/xml")

    async def inject_inbound(self, sender: str, body: str) -> str:
        """Text the platform from ``sender``; its TwiML answer (raises when it refuses)."""
        if self.config.inbound_url is None:
            raise ValueError("inbound_url: required to inject inbound texts")
        fields = {"MessageSid": f"SM{self._random.getrandbits(128):032x}",
                  "AccountSid": self.config.account_sid, "From": sender,
                  "To": self.config.service_number, "Body": body, "NumSegments": "1"}
        status, text = await self._post(self.config.inbound_url, fields)
        if status != 200:
            raise ValueError(f"inbound_url: answered HTTP {status}: {text[:200]}")
        return text

    # Callbacks to the platform --------------------------------------------------------

    async def _post_statuses(self, url: str, text: TextTaken) -> None:
        for status in text.statuses:
            await asyncio.sleep(self.config.callback_delay)
            fields = {"MessageSid": text.sid, "SmsSid": text.sid, "MessageStatus": status,
                      "SmsStatus": status, "AccountSid": self.config.account_sid,
                      "To": text.to, "From": text.sender, "ApiVersion": "2010-04-01"}
            if status == "undelivered" and text.error_code is not None:
                fields["ErrorCode"] = str(text.error_code)
            answer, _ = await self._post(url, fields)
            self.callbacks.append(CallbackPosted(text.sid, status, answer))

    async def _post(self, url: str, fields: Mapping[str, str]) -> tuple[int | None, str]:
        headers = {SIGNATURE_HEADER: twilio_signature(self.config.auth_token, url,
                                                       fields.items())}
        try:
            async with self.client.post(url, data=dict(fields), headers=headers) as response:
                return response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError):
            return None, ""


class TwilioSimulatorThread(LoopThread[TwilioSimulator]):
    """The simulated API on its own event loop in a daemon thread."""

    def __init__(self, simulator: TwilioSimulator, start_timeout: float = 10.0) -> None:
        super().__init__(simulator, "twilio-simulator", start_timeout)

    @property
    def base_url(self) -> str:
        return self.simulator.base_url

    def taken(self) -> list[TextTaken]:
        return self.call(lambda: list(self.simulator.taken))

    def callbacks(self) -> list[CallbackPosted]:
        return self.call(lambda: list(self.simulator.callbacks))

    def answered(self) -> dict[int, int]:
        return self.call(lambda: dict(self.simulator.answered))

    def set_fault(self, fault: TwilioFault) -> None:
        self.call(lambda: setattr(self.simulator, "fault", fault))

    def inject_inbound(self, sender: str, body: str, timeout: float = 30.0) -> str:
        return self.submit(lambda: self.simulator.inject_inbound(sender, body)).result(timeout)
