"""Update and Cancel of a published alert, one click from its page.

Update: the alert's form, filled with what is in force, then a review of
the changes against it (field by field, old and new) before the Update is
published; an Actual alert's event is typed to confirm, as for approval.
Cancel: the page lists exactly the messages the Cancel will reference (the
alert's live messages), and needs a reason and an explicit confirmation;
those messages are sent with the request, so that a Cancel never names a
set the approver did not see.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from publisher.services import lifecycle
from publisher.services.errors import InvalidInput
from publisher.store.models import Message, Role
from publisher.web.context import SIGNER, in_transaction
from publisher.web.staff_alerts import alert_id_of
from publisher.web.staff_approval import issue_and_fan_out
from publisher.web.staff_auth import staff_route
from publisher.web.staff_compose import form_values, render_form, the_districts
from publisher.web.staff_context import CSRF_FIELD, STAFF
from publisher.web.staff_form import (
    FormValues,
    content_of,
    form_field,
    form_of_content,
    typed_event_matches,
)
from publisher.web.staff_pages import render

__all__ = ["routes"]

_APPROVER = (Role.APPROVER,)
# Hidden fields of the update form that are not the alert's content.
_NOT_CONTENT = frozenset({CSRF_FIELD, "do", "confirm_event", "template"})

routes = web.RouteTableDef()


def _changes(before: FormValues, after: FormValues) -> list[dict[str, Any]]:
    return [{"field": name, "before": before.get(name, ""), "after": after.get(name, "")}
            for name in sorted((set(before) | set(after)) - _NOT_CONTENT)
            if before.get(name, "") != after.get(name, "")]


async def _current(request: web.Request, alert_id: int) -> tuple[str, str, FormValues]:
    alert = await in_transaction(request,
                                 lambda session: lifecycle.get_alert(session, alert_id))
    return alert.status, alert.event, form_of_content(alert.draft)


async def _update_page(request: web.Request, alert_id: int, values: FormValues, *,
                       status: int = 200, errors: dict[str, str] | None = None,
                       review: bool = False) -> web.Response:
    cap_status, event, before = await _current(request, alert_id)
    return render_form(request, "update.html.j2", values, status=status, errors=errors,
                       alert_id=alert_id, action=f"/staff/alerts/{alert_id}/update",
                       lock_status=True, changes=_changes(before, values) if review else None,
                       actual=cap_status == "Actual", event=event,
                       typed=values.get("confirm_event", ""))


@staff_route(routes, "GET", r"/staff/alerts/{alert_id:\d+}/update", _APPROVER)
async def update_form(request: web.Request) -> web.Response:
    alert_id = alert_id_of(request)
    _, _, values = await _current(request, alert_id)
    return await _update_page(request, alert_id, values)


@staff_route(routes, "POST", r"/staff/alerts/{alert_id:\d+}/update", _APPROVER)
async def update(request: web.Request) -> web.StreamResponse:
    actor, alert_id, signer = request[STAFF].actor, alert_id_of(request), request.app[SIGNER]
    form = await request.post()
    values = form_values(form)
    if form.get("do") != "publish":
        return await _update_page(request, alert_id, values, review=True)
    typed = values.get("confirm_event", "")

    def updated(session: Session) -> Message:
        content = content_of(values, the_districts(request))
        return lifecycle.update(session, actor, alert_id, content, signer,
                                confirm_actual=typed_event_matches(typed, content),
                                profile=signer.issuer.profile)

    try:
        await issue_and_fan_out(request, updated)
    except InvalidInput as error:
        field = "confirm_event" if error.field == "confirm_actual" else form_field(error.field)
        return await _update_page(request, alert_id, values, status=400, review=True,
                                  errors={field: error.reason})
    raise web.HTTPSeeOther(f"/staff/alerts/{alert_id}")


async def _cancel_page(request: web.Request, alert_id: int, *, status: int = 200,
                       errors: dict[str, str] | None = None, reason: str = "") -> web.Response:
    def live(session: Session) -> tuple[Any, list[Message]]:
        alert = lifecycle.get_alert(session, alert_id)
        return alert, lifecycle.live_messages(alert)

    alert, messages = await in_transaction(request, live)
    return render(request, "cancel.html.j2", status=status, banner=alert.status,
                  alert_id=alert_id, alert=alert, messages=messages, errors=errors or {},
                  reason=reason)


@staff_route(routes, "GET", r"/staff/alerts/{alert_id:\d+}/cancel", _APPROVER)
async def cancel_form(request: web.Request) -> web.Response:
    return await _cancel_page(request, alert_id_of(request))


@staff_route(routes, "POST", r"/staff/alerts/{alert_id:\d+}/cancel", _APPROVER)
async def cancel(request: web.Request) -> web.StreamResponse:
    actor, alert_id, signer = request[STAFF].actor, alert_id_of(request), request.app[SIGNER]
    form = await request.post()
    reason = str(form.get("reason", ""))
    if form.get("confirm") != "yes":
        return await _cancel_page(request, alert_id, status=400, reason=reason,
                                  errors={"confirm": "confirm"})
    references = [str(item) for item in form.getall("reference", [])]
    try:
        await issue_and_fan_out(request, lambda session: lifecycle.cancel(
            session, actor, alert_id, signer, references=references, reason=reason))
    except InvalidInput as error:
        return await _cancel_page(request, alert_id, status=400, reason=reason,
                                  errors={error.field or "reason": error.reason})
    raise web.HTTPSeeOther(f"/staff/alerts/{alert_id}")
