"""Approval: the queue (``/staff/approvals``), the review page, approve and reject.

The review page shows the alert's content and every channel's preview. The
services refuse an approver who wrote the alert, an Actual alert approved
without confirmation, and a rejection without a reason; the page says so
next to the field. For an Actual alert the confirmation is the event's name,
typed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from publisher.services import lifecycle
from publisher.services.alert_record import alert_record
from publisher.services.errors import Forbidden, InvalidInput
from publisher.store.models import AlertState, Message, Role
from publisher.web.context import FANOUT, SIGNER, in_transaction
from publisher.web.staff_alerts import PER_PAGE, alert_id_of, level_of, previews_of
from publisher.web.staff_auth import staff_route
from publisher.web.staff_context import STAFF
from publisher.web.staff_form import typed_event_matches
from publisher.web.staff_pages import render

__all__ = ["issue_and_fan_out", "routes"]

_APPROVER = (Role.APPROVER,)

routes = web.RouteTableDef()


async def issue_and_fan_out(request: web.Request,
                            work: Callable[[Session], Message]) -> int:
    """Run a use case that issues a message; once committed, start its fan-out. The alert id."""
    def issue(session: Session) -> tuple[int, int]:
        message = work(session)
        return message.id, message.alert_id

    message_id, alert_id = await in_transaction(request, issue)
    await request.app[FANOUT].trigger(message_id)
    return alert_id


@staff_route(routes, "GET", "/staff/approvals", _APPROVER)
async def approval_queue(request: web.Request) -> web.Response:
    reader = request[STAFF].actor.user_id

    def waiting(session: Session) -> list[dict[str, Any]]:
        listed = lifecycle.list_alerts(session, str(AlertState.SUBMITTED), 1, PER_PAGE)
        return [{"id": alert.id, "status": alert.status, "event": alert.event,
                 "headline": alert.headline, "level": level_of(alert.draft),
                 "agency": alert.agency.name if alert.agency is not None else None,
                 "updated": alert.updated_at, "own": alert.author_id == reader}
                for alert in listed.items]

    return render(request, "approvals.html.j2", rows=await in_transaction(request, waiting))


async def _review_page(request: web.Request, alert_id: int, *, status: int = 200,
                       errors: dict[str, str] | None = None, typed: str = "",
                       reason: str = "") -> web.Response:
    record = await in_transaction(request, lambda session: alert_record(session, alert_id))
    previews = await previews_of(request, alert_id)
    return render(request, "approve.html.j2", status=status, banner=record.alert.status,
                  alert_id=alert_id, record=record, alert=record.alert,
                  level=level_of(record.alert.draft), infos=record.alert.draft.get("info", []),
                  previews=previews, errors=errors or {}, typed=typed, reason=reason,
                  own=record.alert.author_id == request[STAFF].actor.user_id)


@staff_route(routes, "GET", r"/staff/alerts/{alert_id:\d+}/approve", _APPROVER)
async def review(request: web.Request) -> web.Response:
    return await _review_page(request, alert_id_of(request))


@staff_route(routes, "POST", r"/staff/alerts/{alert_id:\d+}/approve", _APPROVER)
async def approve(request: web.Request) -> web.StreamResponse:
    actor, alert_id, signer = request[STAFF].actor, alert_id_of(request), request.app[SIGNER]
    typed = str((await request.post()).get("confirm_event", ""))

    def approved(session: Session) -> Message:
        content = lifecycle.get_alert(session, alert_id).draft
        return lifecycle.approve(session, actor, alert_id, signer,
                                 confirm_actual=typed_event_matches(typed, content))

    try:
        await issue_and_fan_out(request, approved)
    except InvalidInput as error:
        return await _review_page(request, alert_id, status=400, typed=typed,
                                  errors={"confirm_event" if error.field == "confirm_actual"
                                          else "approve": error.reason})
    except Forbidden as error:
        return await _review_page(request, alert_id, status=403, typed=typed,
                                  errors={error.field or "approve": error.reason})
    raise web.HTTPSeeOther(f"/staff/alerts/{alert_id}")


@staff_route(routes, "POST", r"/staff/alerts/{alert_id:\d+}/reject", _APPROVER)
async def reject(request: web.Request) -> web.StreamResponse:
    actor, alert_id = request[STAFF].actor, alert_id_of(request)
    reason = str((await request.post()).get("reason", ""))
    try:
        await in_transaction(request,
                             lambda session: lifecycle.reject(session, actor, alert_id, reason))
    except InvalidInput as error:
        return await _review_page(request, alert_id, status=400, reason=reason,
                                  errors={error.field or "reason": error.reason})
    except Forbidden as error:
        return await _review_page(request, alert_id, status=403, reason=reason,
                                  errors={error.field or "approve": error.reason})
    raise web.HTTPSeeOther(f"/staff/alerts/{alert_id}")
