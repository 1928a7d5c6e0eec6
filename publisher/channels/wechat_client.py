"""A client of the WeChat Official Account HTTP API: the access token and template messages.

``send`` hands a batch of template messages over, one ``POST
/cgi-bin/message/template/send`` per openid, at most ``concurrency`` at a
time and no faster than ``rate_per_second`` (a token bucket, ``Pacer``),
and reports each as a ``SendResult``:

- errcode 0: SENT, the ``msgid`` as provider id (the send-job event names it);
- 40001 or 42001: the token is renewed once (``TokenCache.refresh``) and the
  call made again; refused again, the message is QUEUED;
- 45009 (call rate or quota exceeded): the pacer pauses and slows down (see
  ``smpp_pacing``), and the message is tried again, ``throttle_attempts``
  times in all; then QUEUED, for the fan-out's retry with backoff;
- -1 (system busy), HTTP 5xx or 429, or the API not reachable: QUEUED;
- 43004 (the user has unsubscribed from the official account): FAILED, with
  ``UNSUBSCRIBED_REASON`` at the start of the error, the mark the delivery
  service reads to retire the openid (docs/protocols/wechat.md);
- any other errcode: FAILED, with the errcode and the API's errmsg;
- no answer within the timeout, or an answer that is no JSON: SENT without
  a provider id, with the reason. The API may have taken it; sending it
  again could reach the person twice, and no receipt can be matched.

The batch fails as a whole (TransientChannelError or PermanentChannelError)
only when no token can be had before anything was sent.

The calls run on one event loop in a thread owned by the client, over
connections kept open between batches; ``send`` from any thread blocks
until its batch is done. The secret and the access token travel in query
strings: no URL is ever logged or put in a reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from publisher.channels.base import (
    ChannelError,
    DeliveryStatus,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
)
from publisher.channels.smpp_pacing import Pacer
from publisher.channels.wechat_options import WechatOptions
from publisher.channels.wechat_tokens import IssuedToken, TokenCache
from publisher.sim.loop_thread import LoopThread

__all__ = [
    "ERRCODE_BUSY",
    "ERRCODE_RATE_LIMITED",
    "ERRCODE_UNSUBSCRIBED",
    "TOKEN_ERRCODES",
    "UNSUBSCRIBED_REASON",
    "TemplateSend",
    "WechatApiError",
    "WechatClient",
]

log = logging.getLogger(__name__)

TOKEN_PATH = "/cgi-bin/token"  # noqa: S105 - a path, not a credential
SEND_PATH = "/cgi-bin/message/template/send"
ERRCODE_BUSY = -1
ERRCODE_RATE_LIMITED = 45009
ERRCODE_UNSUBSCRIBED = 43004
TOKEN_ERRCODES = frozenset({40001, 42001})
UNSUBSCRIBED_REASON = "unsubscribed"
_RETRY_LATER_HTTP = frozenset({408, 425, 429})
_REASON_LIMIT = 300


class WechatApiError(ChannelError):
    """The API answered with a non-zero errcode."""

    def __init__(self, what: str, errcode: int, errmsg: str) -> None:
        super().__init__(f"{what}: errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass(frozen=True, slots=True)
class TemplateSend:
    """One template message for one delivery: the JSON body, the openid in ``touser``."""

    delivery_id: int
    body: Mapping[str, Any] = field(repr=False)


class _Later(Exception):
    """Not taken this time; the reason says why."""


class _Unknown(Exception):
    """Perhaps taken: no usable answer came."""


class WechatClient:
    """Template messages through the API of ``options``; see the module's documentation."""

    def __init__(self, options: WechatOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._loop: LoopThread[_Connection] | None = None
        self._connection: _Connection | None = None

    def __repr__(self) -> str:
        return f"WechatClient(base_url={self.options.base_url!r}, appid={self.options.appid!r})"

    def send(self, sends: Sequence[TemplateSend]) -> list[SendResult]:
        if not sends:
            return []
        loop, connection = self._running()
        future = loop.submit(lambda: connection.send_all(sends))
        # Each call is bounded by its timeout; this only guards a wedged loop.
        bound = (len(sends) / self.options.rate_per_second
                 + math.ceil(len(sends) / self.options.concurrency)
                 * self.options.timeout * (2 + self.options.throttle_attempts) + 30)
        try:
            return future.result(timeout=bound)
        except TimeoutError:
            future.cancel()
            raise TransientChannelError(f"{len(sends)} template messages did not finish"
                                        f" within {bound:.0f} s") from None

    @property
    def token_fetches(self) -> int:
        """How many tokens this client has fetched: one, unless they expired or were refused."""
        return 0 if self._connection is None else self._connection.tokens.fetches

    def close(self) -> None:
        with self._lock:
            loop, self._loop, self._connection = self._loop, None, None
        if loop is not None:
            loop.stop()

    def _running(self) -> tuple[LoopThread[_Connection], _Connection]:
        with self._lock:
            if self._loop is None or self._connection is None:
                self._connection = _Connection(self.options)
                self._loop = LoopThread(self._connection, "wechat-client")
            return self._loop, self._connection


class _Connection:
    """What lives on the client's loop: the HTTP session, the token and the pacer."""

    def __init__(self, options: WechatOptions) -> None:
        self.options = options
        self.tokens = TokenCache(self._fetch_token)
        self._pacer = Pacer(options.rate_per_second, now=time.monotonic())
        self._session: aiohttp.ClientSession | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[_Connection]:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.options.concurrency),
            timeout=aiohttp.ClientTimeout(total=self.options.timeout),
            headers={"User-Agent": "publisher-wechat"})
        try:
            yield self
        finally:
            await self._session.close()

    async def send_all(self, sends: Sequence[TemplateSend]) -> list[SendResult]:
        try:
            await self.tokens.current()
        except (_Later, _Unknown) as error:
            raise TransientChannelError(f"token: {error}") from None
        except WechatApiError as error:
            if error.errcode == ERRCODE_BUSY:
                raise TransientChannelError(error.reason) from None
            raise PermanentChannelError(error.reason) from None
        slots = asyncio.Semaphore(self.options.concurrency)

        async def bounded(send: TemplateSend) -> SendResult:
            async with slots:
                return await self._send_one(send)

        return list(await asyncio.gather(*(bounded(send) for send in sends)))

    # One message ---------------------------------------------------------------

    async def _send_one(self, send: TemplateSend) -> SendResult:
        refreshed, throttled = False, 0
        while True:
            await self._paced()
            sent_at = time.monotonic()
            try:
                token = await self.tokens.current()
                answer = await self._call("POST", SEND_PATH, {"access_token": token},
                                          send.body)
            except (_Later, WechatApiError) as error:
                return _result(send, DeliveryStatus.QUEUED, self._reason(error))
            except _Unknown as error:
                return _result(send, DeliveryStatus.SENT, self._reason(error))
            errcode = _errcode(answer)
            if errcode == 0:
                self._pacer.accepted(time.monotonic(), sent_at)
                return SendResult(send.delivery_id, str(answer.get("msgid", "")) or None,
                                  DeliveryStatus.SENT)
            reason = self._reason(WechatApiError("template send", errcode,
                                                 str(answer.get("errmsg", ""))))
            if errcode in TOKEN_ERRCODES and not refreshed:
                refreshed = True
                try:
                    await self.tokens.refresh(token)
                except (_Later, _Unknown, WechatApiError) as error:
                    return _result(send, DeliveryStatus.QUEUED, self._reason(error))
                continue
            if errcode == ERRCODE_RATE_LIMITED:
                self._pacer.throttled(time.monotonic(), sent_at)
                throttled += 1
                if throttled < self.options.throttle_attempts:
                    continue
            if errcode in TOKEN_ERRCODES | {ERRCODE_RATE_LIMITED, ERRCODE_BUSY}:
                return _result(send, DeliveryStatus.QUEUED, reason)
            if errcode == ERRCODE_UNSUBSCRIBED:
                return _result(send, DeliveryStatus.FAILED, f"{UNSUBSCRIBED_REASON}: {reason}",
                               retire_target=True)
            return _result(send, DeliveryStatus.FAILED, reason)

    async def _paced(self) -> None:
        while (wait := self._pacer.wait(time.monotonic())) > 0:
            await asyncio.sleep(wait)
        self._pacer.take(time.monotonic())

    # The wire --------------------------------------------------------------------

    async def _fetch_token(self) -> IssuedToken:
        answer = await self._call("GET", TOKEN_PATH, {
            "grant_type": "client_credential", "appid": self.options.appid,
            "secret": self.options.secret})
        errcode = _errcode(answer)
        if errcode != 0:
            raise WechatApiError("token", errcode, str(answer.get("errmsg", "")))
        token, expires_in = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(token, str) or not token or isinstance(expires_in, bool) \
                or not isinstance(expires_in, int | float) or expires_in <= 0:
            raise _Unknown("token: the answer has no access_token with a positive expires_in")
        log.info("wechat access token fetched", extra={"expires_in": expires_in})
        return IssuedToken(token, float(expires_in))

    async def _call(self, method: str, path: str, query: Mapping[str, str],
                    body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The JSON answer of one call; raises _Later or _Unknown, never naming the URL."""
        assert self._session is not None
        where = f"{method} {path}"
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        try:
            async with self._session.request(
                    method, f"{self.options.base_url}{path}", params=query, data=data,
                    headers=None if data is None else {"Content-Type": "application/json"},
                    allow_redirects=False) as response:
                status, text = response.status, await response.text(errors="replace")
        except aiohttp.ClientConnectorError as error:
            raise _Later(f"{where}: the API is not reachable ({error.os_error.strerror})"
                         ) from None
        except TimeoutError:
            raise _Unknown(f"{where}: no answer within {self.options.timeout:g} s") from None
        except aiohttp.ClientError as error:
            raise _Unknown(f"{where}: {type(error).__name__}") from None
        if status >= 500 or status in _RETRY_LATER_HTTP:
            raise _Later(f"{where}: HTTP {status}")
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if status != 200 or not isinstance(answer, dict):
            raise _Unknown(f"{where}: HTTP {status}, not a JSON object: {_shortened(text)}")
        return answer

    def _reason(self, error: Exception) -> str:
        return self.options.redact(_shortened(str(error)))


def _errcode(answer: Mapping[str, Any]) -> int:
    errcode = answer.get("errcode", 0)
    return errcode if isinstance(errcode, int) and not isinstance(errcode, bool) else -1


def _shortened(text: str) -> str:
    return " ".join(text.split())[:_REASON_LIMIT] or "(nothing)"


def _result(send: TemplateSend, status: DeliveryStatus, reason: str, *,
            retire_target: bool = False) -> SendResult:
    log.info("wechat template message without success", extra={
        "delivery_id": send.delivery_id, "status": status.value, "reason": reason})
    return SendResult(send.delivery_id, None, status, reason, retire_target=retire_target)
