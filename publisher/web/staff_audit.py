"""``/staff/audit``: the audit log, newest first, filtered by alert, user and action, paged.

Read-only: this module declares one GET route and nothing else, so no
request to ``/staff/audit`` can change the log (other methods get 405).
Administrators, approvers and viewers read it (``services.audit_log``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from publisher.services.audit_log import AUDIT_READERS, AuditFilter, audit_actions, audit_page
from publisher.services.errors import InvalidInput
from publisher.web.api import page_number
from publisher.web.context import in_transaction
from publisher.web.dashboard_text import DASHBOARD_TEXT
from publisher.web.staff_auth import staff_route
from publisher.web.staff_context import STAFF, staff_language
from publisher.web.staff_pages import render

__all__ = ["routes"]

routes = web.RouteTableDef()


def _filter(request: web.Request) -> AuditFilter:
    raw_alert = request.query.get("alert", "").strip().lstrip("#")
    if raw_alert and not raw_alert.isdigit():
        raise InvalidInput(f"must be an alert number, not {raw_alert!r}", field="alert")
    return AuditFilter(alert_id=int(raw_alert) if raw_alert else None,
                       user=request.query.get("user", "").strip() or None,
                       action=request.query.get("action", "").strip() or None)


def _entry(entry: Any) -> dict[str, Any]:
    detail = {name: value for name, value in (entry.detail or {}).items() if name != "user_id"}
    return {"id": entry.id, "at": entry.at, "actor": entry.actor, "action": entry.action,
            "alert_id": entry.alert_id, "message_id": entry.message_id,
            "reason": entry.reason or "", "detail": detail}


@staff_route(routes, "GET", "/staff/audit", AUDIT_READERS)
async def audit_log_page(request: web.Request) -> web.Response:
    wanted, page, actor = _filter(request), page_number(request), request[STAFF].actor

    def reading(session: Session) -> dict[str, Any]:
        found = audit_page(session, actor, wanted, page)
        return {"entries": [_entry(entry) for entry in found.entries], "total": found.total,
                "pages": found.pages, "actions": audit_actions(session)}

    found = await in_transaction(request, reading)
    query = {"alert": wanted.alert_id or "", "user": wanted.user or "",
             "action": wanted.action or ""}
    return render(request, "audit.html.j2", words=DASHBOARD_TEXT[staff_language(request)],
                  wanted=query, page=page, **found)
