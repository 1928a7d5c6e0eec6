"""What a Twilio-compatible SMS provider posts to us: status callbacks and inbound texts.

- ``POST /webhooks/twilio/status?route=<name>``: a status callback of a text
  sent over that REST route of the ``sms`` channel. Its ``MessageSid`` and
  ``MessageStatus`` (and ``ErrorCode``) are recorded through the receipts
  service like any receipt: duplicates, late and out-of-order callbacks never
  move a final state back. One that came before its text's hand-over was
  recorded is offered again with the device acks (``devices.EARLY_ACKS``).
- ``POST /webhooks/twilio/inbound``: a text from a phone, read for the same
  keywords as over SMPP (``handle_mo``); the confirmation is the TwiML answer
  ``<Response><Message>...</Message></Response>``, which the provider sends.
  The route is the one named by ``?route=``, else the one whose
  ``account_sid`` the post names.

Both carry ``X-Twilio-Signature``, checked against the route's AuthToken
over the URL the provider called: the route's ``public_url`` (the
platform's address as the provider sees it, behind any proxy) followed by
the path and query of the request. A missing or wrong signature is 403, a
route that names no REST route 404. They are outside ``/api/``: the staff
authentication leaves them alone.
"""

from __future__ import annotations

import logging
from xml.sax.saxutils import escape

from aiohttp import web
from sqlalchemy.orm import Session

from publisher.channels.base import ChannelError
from publisher.channels.sms import SmsChannel
from publisher.channels.sms_routes import read_routes
from publisher.channels.sms_twilio import CALLBACK_FIELDS
from publisher.channels.twilio_options import INBOUND_PATH, STATUS_PATH, RestRouteSettings
from publisher.channels.twilio_signature import SIGNATURE_HEADER, signature_holds
from publisher.services.errors import InvalidInput
from publisher.services.receipts import store_receipt
from publisher.services.subscriber_commands import Reply, handle_mo
from publisher.web.context import SETTINGS, in_transaction
from publisher.web.devices import DEVICE_CHANNELS
from publisher.web.errors import error_response
from publisher.web.provider_receipts import record_posted_receipt
from publisher.web.subscribers import DISTRICT_NAMES

__all__ = ["routes"]

log = logging.getLogger(__name__)

_TWIML = "application/xml"
_EMPTY = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"

routes = web.RouteTableDef()


def _rest_routes(request: web.Request) -> list[RestRouteSettings]:
    options = request.app[SETTINGS].channel_options.get(SmsChannel.name, {})
    try:
        return [route for route in read_routes(options) if isinstance(route, RestRouteSettings)]
    except ChannelError:
        return []


async def _verified(request: web.Request
                    ) -> tuple[RestRouteSettings, dict[str, str]] | web.Response:
    """The route and the posted fields, or the refusal (404 or 403)."""
    form = {name: str(value) for name, value in (await request.post()).items()}
    name = request.query.get("route")
    found = [route for route in _rest_routes(request)
             if (route.name == name if name is not None
                 else route.account_sid == form.get("AccountSid"))]
    if not found:
        return error_response(404, "not_found", "route",
                              f"{name or form.get('AccountSid')!r} names no REST route of"
                              " channel_options.sms")
    route = found[0]
    if route.public_url is None:
        return error_response(403, "forbidden", "public_url",
                              f"channel_options.sms route {route.name} has no public_url to"
                              " check signatures against")
    url = f"{route.public_url}{request.path_qs}"
    if not signature_holds(route.auth_token, url, form.items(),
                           request.headers.get(SIGNATURE_HEADER, "")):
        log.warning("twilio webhook refused: bad signature", extra={"path": request.path,
                                                                   "route": route.name})
        return error_response(403, "forbidden", SIGNATURE_HEADER,
                              "does not match the route's AuthToken, the URL and the fields")
    return route, form


@routes.post(STATUS_PATH)
async def status_callback(request: web.Request) -> web.Response:
    verified = await _verified(request)
    if isinstance(verified, web.Response):
        return verified
    route, form = verified
    raw = {name: form[name] for name in CALLBACK_FIELDS if name in form} | {"route": route.name}
    refusal = await record_posted_receipt(
        request, SmsChannel.name, lambda session, channel: store_receipt(session, channel, raw))
    return refusal or web.Response(text=_EMPTY, content_type=_TWIML)


@routes.post(INBOUND_PATH)
async def inbound_text(request: web.Request) -> web.Response:
    verified = await _verified(request)
    if isinstance(verified, web.Response):
        return verified
    route, form = verified
    districts = request.app[DISTRICT_NAMES]
    sender, body = form.get("From", ""), form.get("Body", "")

    def applying(session: Session) -> Reply:
        return handle_mo(session, sender, body, districts=districts)

    try:
        reply = await in_transaction(request, applying)
    except InvalidInput as error:
        log.warning("sms text from a phone ignored", extra={
            "field": error.field, "reason": error.reason, "route": route.name})
        return web.Response(text=_EMPTY, content_type=_TWIML)
    channel = request.app[DEVICE_CHANNELS].get(SmsChannel.name)
    assert isinstance(channel, SmsChannel)
    text = channel.signed(reply.text, reply.language)
    return web.Response(text="<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>"
                             f"{escape(text)}</Message></Response>", content_type=_TWIML)
