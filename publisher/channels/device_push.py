"""Pushes to devices (LED boards, speakers): one JSON POST per device, many at a time.

Every device channel speaks the same protocol (docs/protocols/led.md,
docs/protocols/speaker.md): ``POST {endpoint}/messages`` with a JSON body
that names the delivery (its provider id), the action, the CAP identifier,
what it replaces or cancels, until when it holds, and where to ack. The
device answers 202 and acks later to ``ack_url``; that ack is the receipt.

What one push becomes, as a ``SendResult`` for its delivery:

- SENT, with the provider id, when the device answered 2xx;
- QUEUED (the fan-out retries it with backoff) when the device could not be
  reached, did not answer within the timeout, or answered 5xx, 408 or 429;
- FAILED, with the device's reason, for any other answer: it refused this
  message and will refuse it again.

The pushes of a batch run on one event loop in a thread owned by the client,
at most ``concurrency`` at a time, over connections kept open between
batches; ``send`` from any thread blocks until its batch is done.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import math
import threading
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp

from publisher.cap.model import Alert, MsgType
from publisher.cap.references import parse_references
from publisher.channels.base import (
    DeliveryStatus,
    ParsedReceipt,
    PermanentChannelError,
    ReceiptError,
    SendResult,
    TargetRef,
    TransientChannelError,
)

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "DeviceOptions",
    "DevicePushClient",
    "Push",
    "answer_reason",
    "expired_result",
    "parse_ack",
    "provider_id",
    "referenced_identifiers",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_TIMEOUT = 5.0
DEFAULT_CONCURRENCY = 50
# Answers that say "not now" rather than "never": the device is busy or restarting.
_RETRY_LATER = frozenset({408, 425, 429})
_REASON_LIMIT = 300


def provider_id(delivery_id: int) -> str:
    """The provider id of a device delivery: the delivery id itself, which the ack names."""
    return str(delivery_id)


@dataclass(frozen=True, slots=True)
class DeviceOptions:
    """A device channel's options (``channel_options["led"]``, ``["speaker"]``)."""

    channel: str
    callback_url: str
    timeout: float = DEFAULT_TIMEOUT
    concurrency: int = DEFAULT_CONCURRENCY

    @classmethod
    def read(cls, channel: str, options: Mapping[str, Any]) -> DeviceOptions:
        """Read and check them; raises PermanentChannelError naming the option at fault."""
        def error(key: str, reason: str) -> PermanentChannelError:
            return PermanentChannelError(f"channel_options.{channel}.{key}: {reason}")

        callback_url = options.get("callback_url")
        if not isinstance(callback_url, str) or not callback_url.startswith(("http://",
                                                                             "https://")):
            raise error("callback_url", f"required: the platform's base URL the devices reach,"
                                        f" e.g. http://127.0.0.1:8080 (got {callback_url!r})")
        timeout = options.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise error("timeout", f"{timeout!r} is not a positive number of seconds")
        concurrency = options.get("concurrency", DEFAULT_CONCURRENCY)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise error("concurrency", f"{concurrency!r} is not a whole number of at least 1")
        return cls(channel, callback_url.rstrip("/"), float(timeout), concurrency)

    def ack_url(self, device_id: str) -> str:
        return f"{self.callback_url}/api/devices/{device_id}/acks"


@dataclass(frozen=True, slots=True)
class Push:
    """One message for one device: its delivery, the device's endpoint and the JSON body."""

    delivery_id: int
    endpoint: str
    body: Mapping[str, Any]

    @classmethod
    def to(cls, target: TargetRef, options: DeviceOptions, *, action: str, identifier: str,
           references: Sequence[str], expires: datetime | None,
           fields: Mapping[str, Any]) -> Push:
        """The push of ``action`` to the device of ``target``, with the kind's ``fields``.

        Raises PermanentChannelError for a target that is no registered
        device: it has no ack URL, so nothing it shows would be confirmed.
        """
        if not target.device_id:
            raise PermanentChannelError(f"target {target.target_id} has no registered device")
        body = {"delivery": provider_id(target.delivery_id), "action": action,
                "identifier": identifier, "references": list(references),
                "expires": None if expires is None else expires.isoformat(),
                "ack_url": options.ack_url(target.device_id), **fields}
        return cls(target.delivery_id, target.address, body)

    @property
    def url(self) -> str:
        return f"{self.endpoint.rstrip('/')}/messages"


def referenced_identifiers(alert: Alert) -> list[str]:
    """The identifiers of the messages an Update replaces or a Cancel withdraws."""
    if alert.msg_type is MsgType.ALERT or not alert.references:
        return []
    # A quirky reference still names its message; intake already reported it.
    references, _ = parse_references(alert.references)
    return [reference.identifier for reference in references]


def expired_result(delivery_id: int, expires: datetime | None,
                   now: datetime | None = None) -> SendResult | None:
    """EXPIRED for a message whose ``expires`` has passed: no device puts it on air then."""
    moment = now or datetime.now(UTC)
    if expires is None or expires > moment:
        return None
    return SendResult(delivery_id, None, DeliveryStatus.EXPIRED,
                      f"expires: {expires.isoformat()} had passed when it was to be pushed")


def parse_ack(raw: Mapping[str, Any], delivered: Collection[str],
              failed: Collection[str] = ("failed",)) -> ParsedReceipt:
    """A device's ack (``{"delivery", "state", "detail", "at"}``) as a receipt.

    A state in ``delivered`` (displaying, cleared, played...) is DELIVERED,
    one in ``failed`` is FAILED with the device's detail.
    """
    delivery = raw.get("delivery")
    if not isinstance(delivery, str) or not delivery.strip():
        raise ReceiptError("delivery", f"{delivery!r} is not a provider id")
    state = raw.get("state")
    detail = raw.get("detail") or ""
    if not isinstance(detail, str):
        raise ReceiptError("detail", f"{detail!r} is not text")
    if state in delivered:
        status = DeliveryStatus.DELIVERED
    elif state in failed:
        status = DeliveryStatus.FAILED
    else:
        known = ", ".join(sorted({*delivered, *failed}))
        raise ReceiptError("state", f"{state!r} is not one of {known}")
    return ParsedReceipt(delivery.strip(), status, f"{state}: {detail}" if detail else str(state))


class DevicePushClient:
    """Posts pushes to devices, ``concurrency`` at a time, each bounded by ``timeout`` seconds."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT,
                 concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.timeout = timeout
        self.concurrency = concurrency
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_options(cls, options: DeviceOptions) -> DevicePushClient:
        return cls(options.timeout, options.concurrency)

    def push(self, pushes: Sequence[Push]) -> list[SendResult]:
        """Post every push; one result per push, in order."""
        if not pushes:
            return []
        waves = math.ceil(len(pushes) / self.concurrency)
        future = self._run(lambda: self._push_all(pushes))
        try:
            # Each push is bounded by its own timeout; this only guards a wedged loop.
            return future.result(timeout=waves * self.timeout + 30)
        except TimeoutError:
            future.cancel()
            raise TransientChannelError(f"{len(pushes)} device pushes did not finish") from None

    def close(self) -> None:
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._close_session(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()

    def _run(self, coroutine: Callable[[], Coroutine[Any, Any, T]]
             ) -> concurrent.futures.Future[T]:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever,
                                                name="device-push", daemon=True)
                self._thread.start()
            return asyncio.run_coroutine_threadsafe(coroutine(), self._loop)

    async def _close_session(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.concurrency),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": "publisher-device-push"})
        return self._session

    async def _push_all(self, pushes: Sequence[Push]) -> list[SendResult]:
        session = self._client_session()
        slots = asyncio.Semaphore(self.concurrency)

        async def bounded(push: Push) -> SendResult:
            async with slots:
                return await self._push_one(session, push)

        return list(await asyncio.gather(*(bounded(push) for push in pushes)))

    async def _push_one(self, session: aiohttp.ClientSession, push: Push) -> SendResult:
        try:
            async with session.post(push.url, json=push.body, allow_redirects=False) as response:
                text = await response.text(errors="replace")
                status = response.status
        except (aiohttp.InvalidURL, ValueError) as error:
            return SendResult(push.delivery_id, None, DeliveryStatus.FAILED,
                              f"address: {push.endpoint!r} is not a device URL ({error})")
        except TimeoutError:
            return _later(push, f"no answer from {push.url} within {self.timeout:g} s")
        except aiohttp.ClientError as error:
            return _later(push, f"{push.url} not reachable: {error.__class__.__name__}:"
                                f" {error}")
        if 200 <= status < 300:
            return SendResult(push.delivery_id, provider_id(push.delivery_id),
                              DeliveryStatus.SENT)
        reason = f"{push.url} answered HTTP {status}: {answer_reason(text)}"
        if status >= 500 or status in _RETRY_LATER:
            return _later(push, reason)
        return SendResult(push.delivery_id, None, DeliveryStatus.FAILED, reason)


def _later(push: Push, reason: str) -> SendResult:
    log.info("device push deferred", extra={"delivery_id": push.delivery_id,
                                            "alert_identifier": push.body.get("identifier"),
                                            "reason": reason})
    return SendResult(push.delivery_id, None, DeliveryStatus.QUEUED, reason)


def answer_reason(text: str) -> str:
    """The device's words: ``field: reason`` from a JSON answer, else its text, shortened."""
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("reason"), str):
        field = answer.get("field")
        text = f"{field}: {answer['reason']}" if isinstance(field, str) else answer["reason"]
    text = " ".join(text.split())
    return text[:_REASON_LIMIT] or "(no reason given)"
