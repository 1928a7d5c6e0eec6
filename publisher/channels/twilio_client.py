"""A client of a Twilio-compatible Messages API: one ``POST .../Messages.json`` per text.

``send`` hands a batch over, at most ``concurrency`` requests in flight over
connections kept open between batches, paced at the route's ``rate`` (a
token bucket, ``Pacer``), with HTTP basic auth (AccountSid, AuthToken). Each
text becomes a ``RestOutcome``:

- 200/201 with a ``sid``: taken; the ``status`` it answers (queued, sent...)
  is the first state and ``num_segments`` how many parts the provider made;
- 429 (error 20429) and 5xx: transient. The text is tried again after a
  back-off with jitter, ``attempts`` times in all (a 429 also slows the
  pacer), then it is left for later (``QUEUED``);
- the API not reachable, or an authentication failure: left for later, and
  the route's health hears of it (``RouteHealth``);
- a permanent error code (``PERMANENT_ERRORS``: 21211 invalid To, 21610 the
  recipient replied STOP, 21614 not a mobile number, 30003/30005/30006
  unreachable, unknown, landline, 30007 filtered): failed with its reason;
  21610 also retires the number; any other 4xx fails with its code and message;
- no answer within ``timeout``: perhaps taken, so never sent again; no id.

The calls run on one event loop in a thread owned by the client; ``send``
from any thread blocks until its batch is done. No URL with the account,
no AuthToken and no number ever reaches a log line or a reason.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import math
import random
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from publisher.channels.base import TransientChannelError
from publisher.channels.smpp_pacing import Pacer
from publisher.channels.twilio_health import RouteHealth
from publisher.channels.twilio_options import RestRouteSettings
from publisher.sim.loop_thread import LoopThread

__all__ = ["PERMANENT_ERRORS", "RATE_LIMITED", "RestMessage", "RestOutcome", "Taken",
           "TwilioClient"]

log = logging.getLogger(__name__)

RATE_LIMITED = 20429
STOPPED = 21610
PERMANENT_ERRORS = {
    21211: "invalid To number",
    STOPPED: "the recipient replied STOP",
    21614: "To is not a mobile number",
    30003: "unreachable destination handset",
    30005: "unknown destination handset",
    30006: "landline or unreachable carrier",
    30007: "message filtered",
}
_AUTHENTICATION = frozenset({401, 403})
_MAX_BACKOFF = 8.0
_REASON_LIMIT = 200


class Taken(enum.Enum):
    YES = "yes"          # the API took it: a sid follows
    LATER = "later"      # not taken this time; may go over any route later
    NEVER = "never"      # refused for good
    UNKNOWN = "unknown"  # perhaps taken: no answer came


@dataclass(frozen=True, slots=True)
class RestMessage:
    """One text for one delivery (0: a confirmation, which has none)."""

    delivery_id: int
    to: str = field(repr=False)
    body: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class RestOutcome:
    delivery_id: int
    taken: Taken
    sid: str | None = None
    status: str | None = None
    num_segments: int | None = None
    reason: str | None = None
    stopped: bool = False


class TwilioClient:
    """Texts through the API of one route; see the module's documentation."""

    def __init__(self, settings: RestRouteSettings, health: RouteHealth) -> None:
        self.settings = settings
        self.health = health
        self._lock = threading.Lock()
        self._loop: LoopThread[_Connection] | None = None
        self._checking = False

    def __repr__(self) -> str:
        return f"TwilioClient(route={self.settings.name!r}, base_url={self.settings.base_url!r})"

    def send(self, messages: Sequence[RestMessage]) -> list[RestOutcome]:
        if not messages:
            return []
        loop = self._running()
        future = loop.submit(lambda: loop.simulator.send_all(messages))
        settings = self.settings
        # Each request is bounded by its timeout; this only guards a wedged loop.
        bound = (len(messages) / settings.rate + math.ceil(len(messages) / settings.concurrency)
                 * settings.attempts * (settings.timeout + _MAX_BACKOFF) + 30)
        try:
            return future.result(timeout=bound)
        except TimeoutError:
            future.cancel()
            raise TransientChannelError(f"route {settings.name}: {len(messages)} texts did not"
                                        f" finish within {bound:.0f} s") from None

    def check_soon(self) -> None:
        """Check the account in the background (once at a time); a success heals the route."""
        with self._lock:
            if self._checking:
                return
            self._checking = True
        loop = self._running()

        async def check() -> None:
            try:
                if await loop.simulator.account_answers():
                    self.health.recovered()
                    log.info("sms rest route healthy again", extra={"route": self.settings.name})
            finally:
                with self._lock:
                    self._checking = False

        loop.submit(check)

    def close(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.stop()

    def _running(self) -> LoopThread[_Connection]:
        with self._lock:
            if self._loop is None:
                self._loop = LoopThread(_Connection(self.settings, self.health),
                                        f"sms-rest-{self.settings.name}")
            return self._loop


class _Connection:
    """What lives on the client's loop: the HTTP session and the pacer."""

    def __init__(self, settings: RestRouteSettings, health: RouteHealth) -> None:
        self.settings = settings
        self.health = health
        self._pacer = Pacer(settings.rate, now=time.monotonic())
        self._random = random.Random()  # noqa: S311 - jitter, not a secret
        self._session: aiohttp.ClientSession | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[_Connection]:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.settings.concurrency),
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
            headers={"User-Agent": "publisher-sms", "Authorization": aiohttp.encode_basic_auth(
                self.settings.account_sid, self.settings.auth_token)})
        try:
            yield self
        finally:
            await self._session.close()

    async def send_all(self, messages: Sequence[RestMessage]) -> list[RestOutcome]:
        slots = asyncio.Semaphore(self.settings.concurrency)

        async def bounded(message: RestMessage) -> RestOutcome:
            async with slots:
                return await self._send_one(message)

        return list(await asyncio.gather(*(bounded(message) for message in messages)))

    async def account_answers(self) -> bool:
        assert self._session is not None
        try:
            async with self._session.get(self.settings.account_url,
                                         allow_redirects=False) as response:
                await response.read()
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    def _form(self, message: RestMessage) -> dict[str, str]:
        settings = self.settings
        form = {"To": message.to, "Body": message.body}
        if settings.messaging_service_sid:
            form["MessagingServiceSid"] = settings.messaging_service_sid
        else:
            form["From"] = settings.sender
        if settings.status_callback is not None:
            form["StatusCallback"] = settings.status_callback
        return form

    async def _send_one(self, message: RestMessage) -> RestOutcome:
        assert self._session is not None
        form = self._form(message)
        reason = ""
        for attempt in range(1, self.settings.attempts + 1):
            await self._paced()
            sent_at = time.monotonic()
            try:
                async with self._session.post(self.settings.messages_url, data=form,
                                              allow_redirects=False) as response:
                    status, text = response.status, await response.text(errors="replace")
            except aiohttp.ClientConnectorError as error:
                reason = f"the API is not reachable ({error.os_error.strerror})"
                self.health.failed(reason, unreachable=True)
                return self._outcome(message, Taken.LATER, reason)
            except TimeoutError:
                reason = f"no answer within {self.settings.timeout:g} s"
                self.health.failed(reason)
                return self._outcome(message, Taken.UNKNOWN, reason)
            except aiohttp.ClientError as error:
                reason = f"{type(error).__name__} before an answer"
                self.health.failed(reason)
                return self._outcome(message, Taken.UNKNOWN, reason)
            answer = _json(text)
            code = _code(answer)
            if status in (200, 201) and isinstance(answer.get("sid"), str):
                self.health.succeeded()
                self._pacer.accepted(time.monotonic(), sent_at)
                segments = answer.get("num_segments")
                return RestOutcome(message.delivery_id, Taken.YES, answer["sid"],
                                   str(answer.get("status") or "queued"),
                                   _whole(segments))
            # A provider's message may quote the number, which is personal data.
            reason = _reason(status, code, answer).replace(message.to.removeprefix("+"), "<To>")
            if status == 429 or code == RATE_LIMITED:
                self._pacer.throttled(time.monotonic(), sent_at)
            elif status >= 500:
                self.health.failed(reason)
            elif status in _AUTHENTICATION:
                self.health.failed(reason)
                return self._outcome(message, Taken.LATER, reason)
            else:
                return self._outcome(message, Taken.NEVER, reason, stopped=code == STOPPED)
            if attempt < self.settings.attempts:
                await asyncio.sleep(self._backoff(attempt))
        return self._outcome(message, Taken.LATER,
                             f"{reason}; {self.settings.attempts} attempts")

    def _backoff(self, attempt: int) -> float:
        # Jitter spreads the retries of a whole window of throttled requests.
        ceiling = min(_MAX_BACKOFF, self.settings.backoff * 2.0 ** (attempt - 1))
        return ceiling * self._random.uniform(0.5, 1.5)

    async def _paced(self) -> None:
        while (wait := self._pacer.wait(time.monotonic())) > 0:
            await asyncio.sleep(wait)
        self._pacer.take(time.monotonic())

    def _outcome(self, message: RestMessage, taken: Taken, reason: str, *,
                 stopped: bool = False) -> RestOutcome:
        reason = f"route {self.settings.name}: {reason}"
        log.info("sms rest text not taken", extra={
            "route": self.settings.name, "delivery_id": message.delivery_id,
            "taken": taken.value, "reason": reason})
        return RestOutcome(message.delivery_id, taken, reason=reason, stopped=stopped)


def _json(text: str) -> Mapping[str, Any]:
    try:
        answer = json.loads(text)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _code(answer: Mapping[str, Any]) -> int | None:
    code = answer.get("code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _whole(value: object) -> int | None:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _reason(status: int, code: int | None, answer: Mapping[str, Any]) -> str:
    known = PERMANENT_ERRORS.get(code) if code is not None else None
    message = " ".join(str(answer.get("message", "")).split())[:_REASON_LIMIT]
    return (f"HTTP {status}" + (f", error {code}" if code is not None else "")
            + (f" ({known})" if known else "") + (f": {message}" if message else ""))
