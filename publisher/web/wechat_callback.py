"""The callback URL of the official account: what the WeChat platform pushes to us.

- ``GET /wechat/callback?signature=&timestamp=&nonce=&echostr=``: the check
  the platform makes when the URL is configured; the ``echostr`` is echoed
  when the signature holds.
- ``POST /wechat/callback?signature=&timestamp=&nonce=``: an event as XML
  (``publisher.channels.wechat_events``). A ``TEMPLATESENDJOBFINISH`` is the
  receipt of a template message (``services.wechat_events``); one that came
  before its message's hand-over was recorded is offered again with the
  device acks (``devices.EARLY_ACKS``), which keeps ids of any channel. An
  ``unsubscribe`` retires the openid. Other events are taken and ignored.
  The platform is answered ``success``.

Both are signed with the ``callback_token`` of ``[channel_options.wechat]``
(SHA-1 of the sorted token, timestamp and nonce): a missing or wrong
signature is 403, and without a configured token every request is 503.
They are outside ``/api/``: the staff authentication leaves them alone.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from publisher.channels.base import ReceiptError
from publisher.channels.wechat import WechatChannel
from publisher.channels.wechat_events import (
    SEND_JOB_FINISHED,
    UNSUBSCRIBE,
    read_event,
    signature_holds,
)
from publisher.services.wechat_events import record_send_job_event, record_unfollow
from publisher.web.context import SETTINGS, in_transaction
from publisher.web.errors import error_response
from publisher.web.provider_receipts import record_posted_receipt

__all__ = ["CALLBACK_PATH", "routes"]

log = logging.getLogger(__name__)

CALLBACK_PATH = "/wechat/callback"
_TAKEN = "success"

routes = web.RouteTableDef()


def _refusal(request: web.Request) -> web.Response | None:
    """403 or 503 when the request does not prove it comes from the platform; else None."""
    options: Any = request.app[SETTINGS].channel_options.get(WechatChannel.name, {})
    token = options.get("callback_token")
    if not isinstance(token, str) or not token:
        return error_response(503, "unavailable", "callback_token",
                              "channel_options.wechat.callback_token is not configured")
    if not signature_holds(token, request.query):
        log.warning("wechat callback refused: bad signature", extra={"path": request.path})
        return error_response(403, "forbidden", "signature",
                              "does not match the token, timestamp and nonce")
    return None


@routes.get(CALLBACK_PATH)
async def verify_callback_url(request: web.Request) -> web.Response:
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    return web.Response(text=request.query.get("echostr", ""), content_type="text/plain")


@routes.post(CALLBACK_PATH)
async def platform_event(request: web.Request) -> web.Response:
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    try:
        fields = read_event(await request.read())
    except ReceiptError as error:
        return error_response(400, "invalid", error.field, error.reason)
    event = fields.get("Event", "")
    if event == SEND_JOB_FINISHED:
        return await _send_job_finished(request, fields)
    if event == UNSUBSCRIBE and fields.get("FromUserName"):
        openid = fields["FromUserName"]
        removed = await in_transaction(request, lambda session: record_unfollow(session,
                                                                                  openid))
        log.info("wechat user unfollowed", extra={"known": removed})
    return web.Response(text=_TAKEN, content_type="text/plain")


async def _send_job_finished(request: web.Request, fields: dict[str, str]) -> web.Response:
    refusal = await record_posted_receipt(
        request, WechatChannel.name,
        lambda session, channel: record_send_job_event(session, channel, fields))
    return refusal or web.Response(text=_TAKEN, content_type="text/plain")
