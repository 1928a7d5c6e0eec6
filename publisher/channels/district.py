"""The district channel: signed CAP pushed to the district sub-center nodes.

Each node is one target (address = the node's URL). ``send`` posts the
message exactly as the center signed it to ``{url}/api/cap`` with the
center's bearer token (``channel_options.district.center_token``; the
nodes' configurations hold the same token). What one push becomes:

- SENT when the node acked (``accepted`` or ``duplicate``: it drops a
  message it has by (sender, identifier, sent), so the channel is
  idempotent by delivery id), with the provider id
  ``<code>:<identifier>:<sent>`` (``node_provider_id``); the node's
  aggregated receipt, naming the same three, later makes it DELIVERED;
- QUEUED (the fan-out retries the batch with backoff) when the node could
  not be reached, did not answer in time, or answered 5xx, 408 or 429: a
  district with a flaky link gets it on a later try, or fetches it itself
  from the catch-up stream;
- FAILED for any other answer (403: the node does not trust our signature).

A Cancel is sent like any message: the node knows what it cancels.
``heartbeats`` posts heartbeat bodies to their nodes (``/api/heartbeat``), all at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from publisher.channels.base import (
    Channel,
    DeliveryStatus,
    OutgoingMessage,
    ParsedReceipt,
    PermanentChannelError,
    ReceiptError,
    SendResult,
    TargetRef,
    TransientChannelError,
)

# The same reading of an error answer as for devices: ``field: reason``, shortened.
from publisher.channels.device_push import answer_reason

__all__ = ["ACKS", "DistrictChannel", "DistrictOptions", "node_provider_id"]

log = logging.getLogger(__name__)

ACKS = frozenset({"accepted", "duplicate"})
DEFAULT_TIMEOUT = 5.0
DEFAULT_CONCURRENCY = 32
_RETRY_LATER = frozenset({408, 425, 429})
CAP_MEDIA_TYPE = "application/cap+xml"


def node_provider_id(code: str, identifier: str, sent: str | datetime) -> str:
    """``<code>:<identifier>:<sent>``, ``sent`` in UTC, however the CAP text wrote its offset."""
    moment = datetime.fromisoformat(sent) if isinstance(sent, str) else sent
    return f"{code}:{identifier}:{moment.astimezone(UTC).isoformat()}"


@dataclass(frozen=True, slots=True)
class DistrictOptions:
    """``channel_options.district``: the token the center presents, and the push limits."""

    center_token: str
    timeout: float = DEFAULT_TIMEOUT
    concurrency: int = DEFAULT_CONCURRENCY

    @classmethod
    def read(cls, options: Mapping[str, Any]) -> DistrictOptions:
        token = options.get("center_token")
        if not isinstance(token, str) or len(token.strip()) < 16:
            raise PermanentChannelError("channel_options.district.center_token: required, the"
                                        " bearer token (16 characters or more) the nodes expect")
        timeout = options.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise PermanentChannelError(f"channel_options.district.timeout: {timeout!r} is not"
                                        " a positive number of seconds")
        concurrency = options.get("concurrency", DEFAULT_CONCURRENCY)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise PermanentChannelError(f"channel_options.district.concurrency: {concurrency!r}"
                                        " is not a whole number of at least 1")
        return cls(token.strip(), float(timeout), concurrency)

    def __repr__(self) -> str:
        return f"DistrictOptions(timeout={self.timeout!r}, concurrency={self.concurrency!r})"


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    text: str


class DistrictChannel(Channel[bytes]):
    name = "district"
    batch_size = 50
    idempotent_by_delivery_id = True

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self._options = DistrictOptions.read(self.options)

    def render(self, message: OutgoingMessage, language: str) -> bytes:
        """A node gets the signed CAP itself, whatever the language: it renders locally."""
        return message.xml

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        if not targets:
            return []
        return asyncio.run(self._push_all(message, targets))

    def heartbeats(self, beats: Mapping[str, tuple[str, Mapping[str, Any]]]
                   ) -> dict[str, dict[str, Any] | TransientChannelError]:
        """Post each heartbeat body to its node's URL at once (``beats``: key -> (url, body));
        per key, the node's JSON answer, or the TransientChannelError saying why there is none.
        """
        if not beats:
            return {}
        return asyncio.run(self._beat_all(beats))

    async def _beat_all(self, beats: Mapping[str, tuple[str, Mapping[str, Any]]]
                        ) -> dict[str, dict[str, Any] | TransientChannelError]:
        slots = asyncio.Semaphore(self._options.concurrency)

        async def bounded(url: str, body: Mapping[str, Any]
                          ) -> dict[str, Any] | TransientChannelError:
            async with slots:
                try:
                    return await self._beat(url, body)
                except TransientChannelError as error:
                    return error

        answers = await asyncio.gather(*(bounded(url, body) for url, body in beats.values()))
        return dict(zip(beats, answers, strict=True))

    async def _beat(self, url: str, body: Mapping[str, Any]) -> dict[str, Any]:
        answer = await self._post(f"{url.rstrip('/')}/api/heartbeat",
                                  json.dumps(body).encode(), "application/json")
        if answer.status != 200:
            raise TransientChannelError(f"{url} answered the heartbeat with HTTP {answer.status}:"
                                        f" {answer_reason(answer.text)}")
        try:
            parsed = json.loads(answer.text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise TransientChannelError(f"{url} answered the heartbeat with no JSON object")
        return parsed

    def parse_receipt(self, raw: Mapping[str, Any]) -> ParsedReceipt:
        """A node's aggregated receipt, ``node`` added by the center from the node's credential."""
        texts = {}
        for name in ("node", "identifier", "sent"):
            value = raw.get(name)
            if not isinstance(value, str) or not value.strip():
                raise ReceiptError(name, f"{value!r} is not a non-empty string")
            texts[name] = value.strip()
        try:
            provider_id = node_provider_id(texts["node"], texts["identifier"], texts["sent"])
        except ValueError:
            raise ReceiptError("sent", f"{texts['sent']!r} is not an ISO 8601 time") from None
        counts = raw.get("counts")
        if not isinstance(counts, Mapping):
            raise ReceiptError("counts", f"{counts!r} is not an object of local channels")
        summary = ", ".join(f"{channel}: {dict(tally)}" for channel, tally in sorted(
            counts.items()))
        return ParsedReceipt(provider_id, DeliveryStatus.DELIVERED, summary or "no local devices")

    async def _post(self, url: str, body: bytes, media_type: str) -> _Answer:
        headers = {"Authorization": f"Bearer {self._options.center_token}",
                   "Content-Type": media_type, "User-Agent": "publisher-district"}
        timeout = aiohttp.ClientTimeout(total=self._options.timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.post(url, data=body, headers=headers,
                                 allow_redirects=False) as response:
                return _Answer(response.status, await response.text(errors="replace"))
        except TimeoutError:
            raise TransientChannelError(f"no answer from {url} within"
                                        f" {self._options.timeout:g} s") from None
        except aiohttp.ClientError as error:
            raise TransientChannelError(f"{url} not reachable: {error.__class__.__name__}:"
                                        f" {error}") from None

    async def _push_all(self, message: OutgoingMessage,
                        targets: Sequence[TargetRef]) -> list[SendResult]:
        slots = asyncio.Semaphore(self._options.concurrency)

        async def bounded(target: TargetRef) -> SendResult:
            async with slots:
                return await self._push_one(message, target)

        return list(await asyncio.gather(*(bounded(target) for target in targets)))

    async def _push_one(self, message: OutgoingMessage, target: TargetRef) -> SendResult:
        url = f"{target.address.rstrip('/')}/api/cap"
        try:
            answer = await self._post(url, message.xml, CAP_MEDIA_TYPE)
        except TransientChannelError as error:
            log.info("district push deferred", extra={"alert_identifier": message.identifier,
                                                      "node_url": target.address,
                                                      "reason": error.reason})
            return SendResult(target.delivery_id, None, DeliveryStatus.QUEUED, error.reason)
        reason = f"{url} answered HTTP {answer.status}: {answer_reason(answer.text)}"
        if answer.status >= 500 or answer.status in _RETRY_LATER:
            return SendResult(target.delivery_id, None, DeliveryStatus.QUEUED, reason)
        if answer.status != 200:
            return SendResult(target.delivery_id, None, DeliveryStatus.FAILED, reason)
        return _acked(message, target, answer.text)


def _acked(message: OutgoingMessage, target: TargetRef, text: str) -> SendResult:
    try:
        ack = json.loads(text)
    except ValueError:
        ack = None
    if not isinstance(ack, dict) or ack.get("ack") not in ACKS or not isinstance(
            ack.get("node"), str):
        return SendResult(target.delivery_id, None, DeliveryStatus.FAILED,
                          f"{target.address}: not an ack: {answer_reason(text)}")
    provider_id = node_provider_id(ack["node"], message.identifier, message.alert.sent)
    return SendResult(target.delivery_id, provider_id, DeliveryStatus.SENT)

