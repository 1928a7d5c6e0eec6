"""A route of the SMS channel over a Twilio-compatible REST API, beside its SMPP routes.

The route takes a batch of the channel's deliveries, each text rendered by
the channel (the same templates as over SMPP: the signature first in
Chinese, the unsubscribe hint last) and hands them to ``TwilioClient``. The
provider segments long texts itself: a delivery has one provider id, the
route's name and the message's ``sid`` (``provider_id``), the segments the
provider reports (``num_segments`` on the delivery row), and its status
callbacks (``parse_status_callback``) move it along through the receipts
service like any receipt. The route is up while its ``RouteHealth`` says so;
while it is down, every ``poll`` lets a check of the account run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from publisher.channels.base import (
    DeliveryStatus,
    ParsedReceipt,
    PermanentChannelError,
    ReceiptError,
    SendResult,
    TransientChannelError,
)
from publisher.channels.sms_provider_ids import provider_id
from publisher.channels.twilio_client import RestMessage, RestOutcome, Taken, TwilioClient
from publisher.channels.twilio_health import RouteHealth
from publisher.channels.twilio_options import RestRouteSettings

__all__ = ["CALLBACK_FIELDS", "RestRoute", "callback_status", "parse_status_callback"]

log = logging.getLogger(__name__)

# What of a status callback is kept as the receipt: never the numbers.
CALLBACK_FIELDS = ("MessageSid", "MessageStatus", "ErrorCode", "route")
_STATUSES = {
    "accepted": DeliveryStatus.SENT, "scheduled": DeliveryStatus.SENT,
    "queued": DeliveryStatus.SENT, "sending": DeliveryStatus.SENT,
    "sent": DeliveryStatus.SENT, "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED, "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED, "canceled": DeliveryStatus.FAILED,
}


def callback_status(value: str) -> DeliveryStatus | None:
    return _STATUSES.get(value.strip().lower())


def parse_status_callback(raw: Mapping[str, object], route_names: Sequence[str]
                          ) -> ParsedReceipt:
    """A status callback as ``CALLBACK_FIELDS`` keep it; raises ReceiptError naming the field."""
    route = str(raw.get("route", ""))
    if route not in route_names:
        raise ReceiptError("route", f"{route!r} is no REST route of this channel")
    sid = str(raw.get("MessageSid", "")).strip()
    if not sid.isalnum():
        raise ReceiptError("MessageSid", f"{raw.get('MessageSid')!r} is not a message sid")
    given = str(raw.get("MessageStatus", ""))
    status = callback_status(given)
    if status is None:
        raise ReceiptError("MessageStatus", f"{given!r} is not a message status")
    error = str(raw.get("ErrorCode") or "-")
    return ParsedReceipt(provider_id(route, sid), status, f"status:{given} err:{error}")


class RestRoute:
    """One REST account of the channel: sends batches and replies, and knows its health."""

    def __init__(self, settings: RestRouteSettings) -> None:
        self.settings = settings
        self.health = RouteHealth(settings.health_window, settings.error_rate,
                                  settings.health_interval)
        self.client = TwilioClient(settings, self.health)

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def answered(self) -> bool:
        # No bind to wait for: the route is known up until requests say otherwise.
        return True

    @property
    def up(self) -> bool:
        if self.health.down and self.health.check_due(time.monotonic()):
            self.client.check_soon()
        return not self.health.down

    def describe(self) -> str:
        return f"{self.name} (rest {'down: ' + self.health.reason if self.health.down else 'up'})"

    def send(self, texts: Sequence[RestMessage]) -> list[SendResult]:
        return [self._result(outcome) for outcome in self.client.send(texts)]

    def send_reply(self, address: str, text: str) -> list[str]:
        """A confirmation; its provider id. Raises as ``SmsChannel.send_reply`` does."""
        [outcome] = self.client.send([RestMessage(0, address, text)])
        if outcome.taken is Taken.YES and outcome.sid is not None:
            return [provider_id(self.name, outcome.sid)]
        reason = f"reply over route {self.name}: {outcome.reason}"
        if outcome.taken is Taken.NEVER:
            raise PermanentChannelError(reason)
        raise TransientChannelError(reason)

    def _result(self, outcome: RestOutcome) -> SendResult:
        if outcome.taken is Taken.YES and outcome.sid is not None:
            status = callback_status(outcome.status or "") or DeliveryStatus.SENT
            return SendResult(outcome.delivery_id, provider_id(self.name, outcome.sid),
                              status, num_segments=outcome.num_segments)
        status = {Taken.LATER: DeliveryStatus.QUEUED, Taken.NEVER: DeliveryStatus.FAILED,
                  Taken.UNKNOWN: DeliveryStatus.SENT}[outcome.taken]
        return SendResult(outcome.delivery_id, None, status, outcome.reason,
                          retire_target=outcome.stopped)

    def close(self) -> None:
        self.client.close()
