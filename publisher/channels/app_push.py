"""The ``app`` channel: alerts for registered app backends, over the stream or a webhook.

Each target is an app. The channel is given a ``hand_over``
(``publisher.services.app_events.AppHandOver`` in the platform, wired where
the channel is created): it applies each app's filters, appends the app's
events, and returns for each target what to do (``PreparedPush``). Then:

- an app outside its filters: SKIPPED, with the filter that kept it out;
- a stream app: SENT. The event is on the app's stream (``GET /api/stream``);
  the app's ack (``POST /api/stream/acks``) is the receipt that makes it
  DELIVERED;
- a webhook app: the event is POSTed to its URL, signed
  (``publisher.channels.app_signature``). A 2xx answer is the receipt:
  DELIVERED. No answer, a timeout, 5xx, 408, 425 or 429 is QUEUED: the batch
  is retried with backoff and jitter. Any other answer is FAILED with the
  app's reason.

Both carry the same document; its ``event`` id is stable across retries, so
a webhook receiver that got a push twice (its 2xx was lost) drops the
second by that id. That makes the channel idempotent by delivery id.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from publisher.channels.app_signature import signed_headers
from publisher.channels.base import (
    Channel,
    DeliveryStatus,
    OutgoingMessage,
    ParsedReceipt,
    PermanentChannelError,
    SendResult,
    TargetRef,
)
from publisher.channels.device_push import answer_reason, parse_ack, provider_id

__all__ = ["AppChannel", "AppHandOverPort", "AppRendering", "PreparedPush"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
DEFAULT_CONCURRENCY = 16
_RETRY_LATER = frozenset({408, 425, 429})


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would turn the signed POST into a GET elsewhere: it is an answer, not a hop.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects)


@dataclass(frozen=True, slots=True)
class PreparedPush:
    """One target of a batch as the hand-over prepared it."""

    delivery_id: int
    app: str
    by_webhook: bool
    webhook_url: str | None
    webhook_secret: str | None = field(repr=False)
    refusal: str | None
    event_id: int | None
    body: bytes | None = field(repr=False)

    @classmethod
    def refused(cls, delivery_id: int, reason: str) -> PreparedPush:
        return cls(delivery_id, "", False, None, None, reason, None, None)


@runtime_checkable
class AppHandOverPort(Protocol):
    def prepare(self, message: OutgoingMessage,
                targets: Sequence[TargetRef]) -> list[PreparedPush]:
        """Filter each target's app and append its event; one prepared push per target."""


@dataclass(frozen=True, slots=True)
class AppRendering:
    """What an app receives of a message in one language: the signed CAP and its headline."""

    identifier: str
    language: str
    headline: str
    xml: bytes


def _option(options: Mapping[str, Any], key: str, default: float, whole: bool) -> float:
    value = options.get(key, default)
    kind = int if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
        raise PermanentChannelError(f"channel_options.app.{key}: {value!r} is not a positive"
                                    f" {'whole number' if whole else 'number'}")
    return float(value)


class AppChannel(Channel[AppRendering]):
    name = "app"
    batch_size = 100
    idempotent_by_delivery_id = True

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self.timeout = _option(self.options, "timeout", DEFAULT_TIMEOUT, whole=False)
        self.concurrency = int(_option(self.options, "concurrency", DEFAULT_CONCURRENCY,
                                       whole=True))

    def _hand_over(self) -> AppHandOverPort:
        hand_over = self.options.get("hand_over")
        if not isinstance(hand_over, AppHandOverPort):
            raise PermanentChannelError(
                "channel_options.app.hand_over: required, what hands messages to the apps"
                " (publisher.services.app_events.AppHandOver)")
        return hand_over

    def render(self, message: OutgoingMessage, language: str) -> AppRendering:
        info = message.info_for(language)
        return AppRendering(message.identifier, info.language, info.headline or info.event,
                            message.xml)

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        if not targets:
            return []
        prepared = self._hand_over().prepare(message, targets)
        webhooks = [push for push in prepared if push.refusal is None and push.by_webhook]
        with concurrent.futures.ThreadPoolExecutor(
                max_workers=max(1, min(self.concurrency, len(webhooks)))) as pool:
            posted = dict(zip((push.delivery_id for push in webhooks),
                              pool.map(self._post, webhooks), strict=True))
        results = []
        for push in prepared:
            if push.refusal is not None:
                results.append(SendResult(push.delivery_id, None, DeliveryStatus.SKIPPED,
                                          push.refusal))
            elif push.by_webhook:
                results.append(posted[push.delivery_id])
            else:
                results.append(SendResult(push.delivery_id, provider_id(push.delivery_id),
                                          DeliveryStatus.SENT))
        return results

    def _post(self, push: PreparedPush) -> SendResult:
        assert push.body is not None and push.webhook_url and push.webhook_secret
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "publisher-app-push", "X-Publisher-Event": str(push.event_id),
                   **signed_headers(push.webhook_secret, int(time.time()), push.body)}
        # The URL is http(s), checked when the app was registered.
        request = urllib.request.Request(push.webhook_url, data=push.body,  # noqa: S310
                                         headers=headers, method="POST")
        try:
            with _NO_REDIRECTS.open(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", "replace")
            reason = f"{push.webhook_url} answered HTTP {error.code}: {answer_reason(text)}"
            if error.code >= 500 or error.code in _RETRY_LATER:
                return _later(push, reason)
            return SendResult(push.delivery_id, None, DeliveryStatus.FAILED, reason)
        except (urllib.error.URLError, OSError) as error:
            return _later(push, f"{push.webhook_url} not reachable: {error}")
        if 200 <= status < 300:
            return SendResult(push.delivery_id, provider_id(push.delivery_id),
                              DeliveryStatus.DELIVERED)
        return SendResult(push.delivery_id, None, DeliveryStatus.FAILED,
                          f"{push.webhook_url} answered HTTP {status}")

    def parse_receipt(self, raw: Mapping[str, Any]) -> ParsedReceipt:
        """An app's ack of a stream event, as ``record_acks`` writes it."""
        return parse_ack(raw, delivered=("delivered",))


def _later(push: PreparedPush, reason: str) -> SendResult:
    log.info("app push deferred", extra={"delivery_id": push.delivery_id, "app": push.app,
                                         "reason": reason})
    return SendResult(push.delivery_id, None, DeliveryStatus.QUEUED, reason)
