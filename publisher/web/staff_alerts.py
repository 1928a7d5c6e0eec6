"""The alerts list (``/staff/alerts``, filtered by state) and one alert's page.

The alert page shows its content in both languages, its state, the messages
issued, and who did what (the audit entries of the alert); the actions its
state allows are one click away, each checked again by the server.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from markupsafe import Markup
from sqlalchemy.orm import Session

from publisher.cap.municipal import WARNING_COLOR_NAME
from publisher.services import lifecycle
from publisher.services.alert_record import alert_record
from publisher.services.previews import PREVIEW_ROLES
from publisher.store.models import Alert, AlertState
from publisher.web.api import page_number
from publisher.web.context import in_transaction
from publisher.web.path_ids import path_id
from publisher.web.staff_auth import ALL_ROLES, staff_route
from publisher.web.staff_context import STAFF, staff_language
from publisher.web.staff_pages import render
from publisher.web.staff_previews import channel_previewer, render_previews_html

__all__ = ["PER_PAGE", "alert_id_of", "level_of", "previews_of", "routes"]

PER_PAGE = 50
# Before it is published, an alert's page shows what each channel would make of it.
_PREVIEWED_STATES = frozenset({AlertState.DRAFT, AlertState.SUBMITTED, AlertState.REJECTED})

routes = web.RouteTableDef()


def alert_id_of(request: web.Request) -> int:
    return path_id(request)


def level_of(content: dict[str, Any]) -> str:
    """The warning colour of the alert's first info block, or ``""``."""
    for info in content.get("info", [])[:1]:
        for parameter in info.get("parameter", []):
            if parameter.get("valueName") == WARNING_COLOR_NAME:
                return str(parameter.get("value", "")).lower()
    return ""


async def previews_of(request: web.Request, alert_id: int) -> Markup:
    """Every channel's preview of the alert's draft, in the page's language."""
    actor, language = request[STAFF].actor, staff_language(request)
    previewer = channel_previewer(request.app)
    return await in_transaction(request, lambda session: render_previews_html(
        session, actor, alert_id, language, previewer))


def _row(alert: Alert) -> dict[str, Any]:
    return {"id": alert.id, "state": str(alert.state), "status": alert.status,
            "event": alert.event, "headline": alert.headline, "level": level_of(alert.draft),
            "updated": alert.updated_at}


@staff_route(routes, "GET", "/staff/alerts", ALL_ROLES)
async def alert_list(request: web.Request) -> web.Response:
    state, page = request.query.get("state") or None, page_number(request)

    def listing(session: Session) -> tuple[int, list[dict[str, Any]]]:
        listed = lifecycle.list_alerts(session, state, page, PER_PAGE)
        return listed.total, [_row(alert) for alert in listed.items]

    total, rows = await in_transaction(request, listing)
    return render(request, "alerts.html.j2", rows=rows, state=state or "", page=page,
                  pages=max(1, -(-total // PER_PAGE)), states=[str(item) for item in AlertState])


@staff_route(routes, "GET", r"/staff/alerts/{alert_id:\d+}", ALL_ROLES)
async def alert_page(request: web.Request) -> web.Response:
    alert_id = alert_id_of(request)
    record = await in_transaction(request, lambda session: alert_record(session, alert_id))
    actor = request[STAFF].actor
    previewed = record.alert.state in _PREVIEWED_STATES and \
        any(actor.has_role(role) for role in PREVIEW_ROLES)
    previews = await previews_of(request, alert_id) if previewed else None
    return render(request, "alert.html.j2", banner=record.alert.status, alert_id=alert_id,
                  previews=previews,
                  record=record, alert=record.alert, level=level_of(record.alert.draft),
                  infos=record.alert.draft.get("info", []),
                  is_author=record.alert.author_id == actor.user_id,
                  roles={str(role) for role in actor.roles})
