"""The LED board channel: alerts as coloured, paged text on street boards.

Each board gets the alert laid out for its own size, colours and languages
(``led_text``: templates per language, CJK-aware wrapping and paging, one
scrolling line where the board scrolls), pushed as a ``show`` to its
endpoint (``device_push``; the protocol is docs/protocols/led.md). The board
answers 202 at once and acks ``displaying`` to the platform, which is the
receipt: the delivery is DELIVERED then. The board keeps it on air until
``expires``; an alert that has expired before its push is not pushed
(EXPIRED).

An Update is a ``show`` whose ``references`` name the messages it replaces:
the board drops those and shows the Update. A Cancel is a ``clear`` naming
the messages it cancels: the board drops them and acks ``cleared``.

An earthquake early warning (``eew_text``) is a ``show`` with ``"priority":
"interrupt"``: the board shows it alone until it is cleared or expires.

Options (``channel_options["led"]``): ``callback_url`` (required), ``timeout``
and ``concurrency`` (``device_push.DeviceOptions``), and the board a target
without capabilities is taken to be (``led_text.Board``: ``rows``,
``columns``, ``colours``, ``scrolls``, ``languages``, ``max_pages``,
``page_seconds``), also the board that ``render`` lays out for.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from publisher.channels.base import (
    Channel,
    DeliveryStatus,
    OutgoingMessage,
    ParsedReceipt,
    PermanentChannelError,
    SendResult,
    TargetRef,
)
from publisher.channels.device_push import (
    DeviceOptions,
    DevicePushClient,
    Push,
    expired_result,
    parse_ack,
    referenced_identifiers,
)
from publisher.channels.eew_text import INTERRUPT, is_interrupting
from publisher.channels.led_layout import LayoutError
from publisher.channels.led_text import Board, BoardMessage, read_board, render_board

__all__ = ["ACK_STATES", "LedChannel"]

log = logging.getLogger(__name__)

# What a board acks once it shows a message, or has cleared one.
ACK_STATES = ("displaying", "cleared")


class LedChannel(Channel[BoardMessage]):
    name = "led"
    batch_size = 500
    # A board keeps one message per identifier: a delivery pushed twice is shown once.
    idempotent_by_delivery_id = True
    inline_first_batch = False

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self.device_options = DeviceOptions.read(self.name, self.options)
        try:
            self.default_board = read_board(self.options, Board(),
                                            where=f"channel_options.{self.name}")
        except LayoutError as error:
            raise PermanentChannelError(str(error)) from None
        self._client = DevicePushClient.from_options(self.device_options)

    def render(self, message: OutgoingMessage, language: str) -> BoardMessage:
        """What the default board shows in ``language``; raises LayoutError for a Cancel."""
        return render_board(message.alert, language, self.default_board)

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        references = referenced_identifiers(message.alert)
        priority = {"priority": INTERRUPT} if is_interrupting(message.alert) else {}
        rendered: dict[tuple[str, Board], BoardMessage] = {}
        results: list[SendResult] = []
        pushes: list[Push] = []
        for target in targets:
            try:
                board = read_board(target.capabilities, self.default_board)
                key = (target.language, board)
                if key not in rendered:
                    rendered[key] = render_board(message.alert, target.language, board)
                shown = rendered[key]
                expired = expired_result(target.delivery_id, shown.expires)
                if expired is not None:
                    results.append(expired)
                    continue
                pushes.append(Push.to(
                    target, self.device_options, action="show",
                    identifier=message.identifier, references=references,
                    expires=shown.expires, fields=_show_fields(shown) | priority))
            except (LayoutError, PermanentChannelError) as error:
                results.append(SendResult(target.delivery_id, None, DeliveryStatus.FAILED,
                                          str(error)))
        results.extend(self._client.push(pushes))
        _log_batch("led boards shown", message, results)
        return results

    def cancel(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        """Clear what ``message`` (the Cancel) names from every board of the batch."""
        references = referenced_identifiers(message.alert)
        if not references:
            raise PermanentChannelError(f"references: Cancel {message.identifier} names no"
                                        " message to clear")
        results: list[SendResult] = []
        pushes: list[Push] = []
        for target in targets:
            try:
                pushes.append(Push.to(target, self.device_options, action="clear",
                                      identifier=message.identifier, references=references,
                                      expires=None, fields={}))
            except PermanentChannelError as error:
                results.append(SendResult(target.delivery_id, None, DeliveryStatus.FAILED,
                                          error.reason))
        results.extend(self._client.push(pushes))
        _log_batch("led boards cleared", message, results)
        return results

    def parse_receipt(self, raw: Mapping[str, Any]) -> ParsedReceipt:
        """A board's ack: displaying or cleared is DELIVERED, failed is FAILED."""
        return parse_ack(raw, ACK_STATES)

    def close(self) -> None:
        self._client.close()


def _show_fields(shown: BoardMessage) -> dict[str, Any]:
    return {"colour": shown.colour, "pages": [list(page.rows) for page in shown.pages],
            "scroll": shown.scroll, "page_seconds": shown.page_seconds}


def _log_batch(event: str, message: OutgoingMessage, results: Sequence[SendResult]) -> None:
    counts = collections.Counter(result.status.value for result in results)
    log.info(event, extra={"alert_identifier": message.identifier, "counts": dict(counts)})
