"""The delivery dashboard page of one alert, its chart, its retry button and its script.

``/staff/alerts/{id}/dashboard`` is rendered whole on the server: counts per
message and channel, the share delivered over time as inline SVG, the
district nodes' acks, the failed targets with their reasons (paged), and
channel and device health; refreshing it is all it needs without
JavaScript. ``/static/dashboard.js`` follows the alert's event stream and
updates the counts in place, fetching each message's chart again
(``.../dashboard/chart.svg?message=``). Any staff role reads it; retrying
is for approvers and administrators, checked by the server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from markupsafe import Markup

from publisher.services.dashboard import COLUMNS, dashboard
from publisher.services.delivery_retry import RETRY_ROLES
from publisher.services.errors import InvalidInput, NotFound
from publisher.web.api import page_number
from publisher.web.context import in_transaction
from publisher.web.dashboard_api import retry_and_enqueue
from publisher.web.dashboard_chart import share_chart_svg
from publisher.web.dashboard_stream import DASHBOARD_HUB
from publisher.web.dashboard_text import CHART_TEXT, DASHBOARD_TEXT
from publisher.web.staff_alerts import alert_id_of
from publisher.web.staff_auth import ALL_ROLES, staff_route
from publisher.web.staff_context import STAFF, staff_language
from publisher.web.staff_pages import render

__all__ = ["DASHBOARD_SCRIPT_PATH", "routes"]

DASHBOARD_SCRIPT_PATH = "/static/dashboard.js"
_SCRIPT = Path(__file__).resolve().parent / "static" / "dashboard.js"
_RETRY_ROLES = tuple(sorted(RETRY_ROLES))

routes = web.RouteTableDef()


def _chart(message: dict[str, Any], language: str) -> str:
    return share_chart_svg(message["series"], CHART_TEXT[language])


def _failed_channels(board: dict[str, Any]) -> list[str]:
    """The channels of the latest message with failures: what a retry can choose from."""
    latest = board["messages"][-1]["channels"] if board["messages"] else {}
    return [channel for channel, columns in latest.items() if columns["failed"]]


def _retried(request: web.Request) -> int | None:
    raw = request.query.get("retried", "")
    return int(raw) if raw.isdigit() else None


@staff_route(routes, "GET", r"/staff/alerts/{alert_id:\d+}/dashboard", ALL_ROLES)
async def dashboard_page(request: web.Request) -> web.Response:
    alert_id, page, actor = alert_id_of(request), page_number(request), request[STAFF].actor
    board = await in_transaction(request, lambda session: dashboard(
        session, actor, alert_id, failed_page=page))
    language = staff_language(request)
    failed = board["failed"]
    return render(
        request, "dashboard.html.j2", banner=board["alert"]["status"], alert_id=alert_id,
        board=board, columns=COLUMNS, words=DASHBOARD_TEXT[language],
        health=await request.app[DASHBOARD_HUB].health.report(),
        charts={message["message_id"]: Markup(_chart(message, language))  # noqa: S704 - escaped by share_chart_svg
                for message in board["messages"]},
        can_retry=any(actor.has_role(role) for role in RETRY_ROLES),
        retry_channels=_failed_channels(board), retried=_retried(request),
        failed_pages=max(1, -(-failed["total"] // failed["per_page"])),
        script=DASHBOARD_SCRIPT_PATH)


def _message_id(request: web.Request) -> int:
    raw = request.query.get("message", "")
    if not raw.isdigit():
        raise InvalidInput(f"must be a message id, not {raw!r}", field="message")
    return int(raw)


@staff_route(routes, "GET", r"/staff/alerts/{alert_id:\d+}/dashboard/chart.svg", ALL_ROLES)
async def dashboard_chart(request: web.Request) -> web.Response:
    alert_id, message_id = alert_id_of(request), _message_id(request)
    actor = request[STAFF].actor
    board = await in_transaction(request, lambda session: dashboard(session, actor, alert_id))
    found = next((message for message in board["messages"]
                  if message["message_id"] == message_id), None)
    if found is None:
        raise NotFound(f"alert {alert_id} has no message {message_id}", field="message")
    return web.Response(text=_chart(found, staff_language(request)),
                        content_type="image/svg+xml", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


@staff_route(routes, "POST", r"/staff/alerts/{alert_id:\d+}/dashboard/retry-failed",
             _RETRY_ROLES)
async def dashboard_retry(request: web.Request) -> web.Response:
    alert_id, actor = alert_id_of(request), request[STAFF].actor
    channel = (await request.post()).get("channel")
    wanted = channel if isinstance(channel, str) and channel else None
    result = await retry_and_enqueue(request, actor, alert_id, wanted)
    raise web.HTTPSeeOther(f"/staff/alerts/{alert_id}/dashboard?retried={result['total']}")


@routes.get(DASHBOARD_SCRIPT_PATH)
async def dashboard_script(request: web.Request) -> web.FileResponse:
    return web.FileResponse(_SCRIPT, headers={"Content-Type": "text/javascript; charset=utf-8",
                                              "Cache-Control": "public, max-age=3600"})
