"""Public pages that need no account: the signed CAP XML of an alert's latest message."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.orm import Session

from publisher.services import lifecycle
from publisher.services.errors import NotFound
from publisher.web.context import in_transaction

__all__ = ["CAP_MEDIA_TYPE", "routes"]

CAP_MEDIA_TYPE = "application/cap+xml"

routes = web.RouteTableDef()


@routes.get(r"/alerts/{alert_id:\d+}.cap")
async def alert_cap(request: web.Request) -> web.Response:
    alert_id = int(request.match_info["alert_id"])

    def latest(session: Session) -> tuple[bytes, str]:
        message = lifecycle.get_alert(session, alert_id).latest_message
        if message is None:
            raise NotFound(f"alert {alert_id} has not been published", field="alert_id")
        return message.xml, message.sha256

    xml, sha256 = await in_transaction(request, latest)
    # The exact bytes that were signed: any re-encoding would break the signature.
    return web.Response(body=xml, content_type=CAP_MEDIA_TYPE, charset="utf-8",
                        headers={"ETag": f'"{sha256}"'})
