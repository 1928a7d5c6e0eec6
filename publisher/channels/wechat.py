"""The WeChat channel: alerts as template messages of the city's official account.

Each target is a subscriber's openid (its address) and gets one template
message in its language (``wechat_template``: the data fields per language
from ``templates/wechat.<language>.j2``), sent through the Official Account
HTTP API (``wechat_client``: the access token, the pacing, what each errcode
means). The ``msgid`` the API answers is the delivery's provider id; the
``TEMPLATESENDJOBFINISH`` event the platform later pushes to the callback
URL (``publisher.web.wechat_callback``) names it with a ``Status``, which
``parse_receipt`` reads: ``success`` is DELIVERED, ``failed:user block`` and
``failed: system failed`` are FAILED with their reason.

Every message carries ``client_msg_id`` (``delivery-<id>``), by which the
API drops a repeat of the same message to the same openid.

An Update is sent as a message of its own, marked as an update; a Cancel is
an all-clear message (the default ``cancel``).

Options (``channel_options["wechat"]``, see ``wechat_options``): ``appid``,
``secret`` and ``template_id`` (required), ``template_ids`` (per language),
``base_url``, ``callback_token``, ``rate_per_second``, ``concurrency``,
``timeout`` and ``throttle_attempts``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from publisher.channels.base import (
    Channel,
    DeliveryStatus,
    OutgoingMessage,
    ParsedReceipt,
    ReceiptError,
    SendResult,
    TargetRef,
)
from publisher.channels.wechat_client import TemplateSend, WechatClient
from publisher.channels.wechat_options import WechatOptions
from publisher.channels.wechat_template import (
    TemplateMessage,
    WechatTemplateError,
    render_template_data,
)

__all__ = ["RECEIPT_FIELDS", "WechatChannel", "client_msg_id"]

log = logging.getLogger(__name__)

# What of a send-job event is kept as the receipt: never the reader's openid.
RECEIPT_FIELDS = ("MsgID", "Status", "CreateTime", "Event")
_SUCCESS = "success"
_FAILED_PREFIX = "failed:"


def client_msg_id(delivery_id: int) -> str:
    """The id by which the API drops a second copy of a delivery's message."""
    return f"delivery-{delivery_id}"


class WechatChannel(Channel[TemplateMessage]):
    name = "wechat"
    batch_size = 500
    rate_per_second = 50.0
    # The API drops a repeat of a client_msg_id to the same openid, so a batch
    # interrupted by a dead worker is sent again rather than failed unsent.
    idempotent_by_delivery_id = True
    inline_first_batch = False

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self.wechat_options = WechatOptions.read(self.options,
                                                 default_rate=type(self).rate_per_second or 1)
        self._client = WechatClient(self.wechat_options)

    def __repr__(self) -> str:
        return f"WechatChannel({self.wechat_options!r})"

    @property
    def client(self) -> WechatClient:
        return self._client

    def render(self, message: OutgoingMessage, language: str) -> TemplateMessage:
        return render_template_data(message.alert, language)

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        rendered: dict[str, TemplateMessage | WechatTemplateError] = {}
        results: list[SendResult] = []
        sends: list[TemplateSend] = []
        for target in targets:
            if target.language not in rendered:
                try:
                    rendered[target.language] = self.render(message, target.language)
                except WechatTemplateError as error:
                    rendered[target.language] = error
            template = rendered[target.language]
            if isinstance(template, WechatTemplateError):
                results.append(SendResult(target.delivery_id, None, DeliveryStatus.FAILED,
                                          str(template)))
                continue
            sends.append(TemplateSend(target.delivery_id, template.body(
                target.address, self.wechat_options.template_for(template.language),
                client_msg_id(target.delivery_id))))
        results.extend(self._client.send(sends))
        counts: dict[str, int] = {}
        for result in results:
            counts[result.status.value] = counts.get(result.status.value, 0) + 1
        log.info("wechat template messages handed over", extra={
            "alert_identifier": message.identifier, "counts": counts})
        return results

    def parse_receipt(self, raw: Mapping[str, Any]) -> ParsedReceipt:
        """A ``TEMPLATESENDJOBFINISH`` event's fields (``MsgID``, ``Status``) as a receipt."""
        msg_id = str(raw.get("MsgID", "")).strip()
        if not msg_id.isdigit():
            raise ReceiptError("MsgID", f"{raw.get('MsgID')!r} is not a message id")
        status = " ".join(str(raw.get("Status", "")).split())
        if status == _SUCCESS:
            return ParsedReceipt(str(int(msg_id)), DeliveryStatus.DELIVERED)
        if status.startswith(_FAILED_PREFIX):
            return ParsedReceipt(str(int(msg_id)), DeliveryStatus.FAILED,
                                 status.removeprefix(_FAILED_PREFIX).strip() or status)
        raise ReceiptError("Status", f"{raw.get('Status')!r} is neither success nor failed:...")

    def close(self) -> None:
        self._client.close()
