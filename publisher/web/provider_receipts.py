"""Recording a receipt a provider posts to a webhook, for any channel."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from publisher.channels.base import Channel, ChannelError
from publisher.services.receipts import StoredReceipt
from publisher.store.models import ReceiptOutcome
from publisher.web.context import in_transaction
from publisher.web.devices import DEVICE_CHANNELS, EARLY_ACKS
from publisher.web.errors import error_response

__all__ = ["record_posted_receipt"]


async def record_posted_receipt(
        request: web.Request, channel_name: str,
        record: Callable[[Session, Channel[Any]], StoredReceipt]) -> web.Response | None:
    """Record a receipt of ``channel_name`` with ``record``; None, or the 503 refusal.

    A receipt that came before its message's hand-over was recorded is
    offered again with the device acks (``devices.EARLY_ACKS``).
    """
    channels = request.app[DEVICE_CHANNELS]

    def recording(session: Session) -> tuple[ReceiptOutcome, str | None]:
        receipt = record(session, channels.get(channel_name))
        return receipt.outcome, receipt.provider_id

    try:
        outcome, provider_id = await in_transaction(request, recording)
    except ChannelError as error:
        # This process cannot make the channel: the provider is to post the receipt again.
        return error_response(503, "unavailable", "channel", error.reason)
    if outcome is ReceiptOutcome.UNKNOWN and provider_id is not None:
        request.app[EARLY_ACKS].keep(channel_name, provider_id, time.monotonic())
    return None
