"""Composing: a new draft from a template (``/staff/compose``), editing it, submitting it.

The form's content goes through the same services as the API's (compose,
edit, submit), so the same CAP validator judges it; an error is shown next
to the field its CAP path names. Saving shows the alert's page, with its
channel previews, from where the author submits it for approval.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.orm import Session

from publisher.cap.districts import District
from publisher.cap.model import Category, Certainty, ResponseType, Urgency
from publisher.cap.municipal import SEVERITY_OF_WARNING_COLOR
from publisher.services import lifecycle
from publisher.services.alert_templates import AlertTemplates, load_alert_templates
from publisher.services.drafts import PUBLIC_STATUSES
from publisher.services.errors import InvalidInput
from publisher.store.models import Role, utcnow
from publisher.web.context import SETTINGS, SIGNER, in_transaction
from publisher.web.district_map import render_district_map_svg
from publisher.web.staff_alerts import alert_id_of
from publisher.web.staff_auth import staff_route
from publisher.web.staff_context import STAFF, staff_language
from publisher.web.staff_form import (
    FormValues,
    content_of,
    form_field,
    form_of_content,
    form_of_template,
)
from publisher.web.staff_pages import render
from publisher.web.subscribers import DISTRICT_NAMES

__all__ = ["ALERT_TEMPLATES", "form_values", "load_templates", "render_form", "routes",
           "saved_or_form", "the_districts"]

ALERT_TEMPLATES = web.AppKey("alert_templates", AlertTemplates)
_LIST_FIELDS = ("response", "districts")
_AUTHOR = (Role.AUTHOR,)

routes = web.RouteTableDef()


async def load_templates(app: web.Application) -> AsyncIterator[None]:
    """The template library of ``config/templates/``, read once at start-up."""
    app[ALERT_TEMPLATES] = load_alert_templates(app[SETTINGS].paths.config_dir)
    yield


def the_districts(request: web.Request) -> Mapping[str, District]:
    return {district.code: district for district in request.app[DISTRICT_NAMES].table}


def form_values(form: MultiDictProxy[Any]) -> FormValues:
    values: FormValues = {name: str(form.get(name, "")) for name in form
                          if name not in _LIST_FIELDS}
    values |= {name: [str(item) for item in form.getall(name, [])] for name in _LIST_FIELDS}
    return values


def _choices() -> dict[str, Any]:
    return {"status": sorted(str(status) for status in PUBLIC_STATUSES),
            "level": list(SEVERITY_OF_WARNING_COLOR),
            "severity_of": {color: str(severity)
                            for color, severity in SEVERITY_OF_WARNING_COLOR.items()},
            "category": [str(item) for item in Category],
            "urgency": [str(item) for item in Urgency],
            "certainty": [str(item) for item in Certainty],
            "response": [str(item) for item in ResponseType]}


def render_form(request: web.Request, template: str, values: FormValues, *,
                errors: Mapping[str, str] | None = None, status: int = 200,
                lock_status: bool = False, **context: Any) -> web.Response:
    """A page holding the alert form, the district map and the errors by field."""
    language = staff_language(request)
    return render(request, template, status=status, banner=values.get("status"),
                  values=values, errors=dict(errors or {}), choices=_choices(),
                  lock_status=lock_status,
                  district_map=render_district_map_svg(values.get("districts", []), language),
                  templates=request.app[ALERT_TEMPLATES].listed(), **context)


async def saved_or_form(request: web.Request, template: str, values: FormValues,
                        save: Callable[[Session, dict[str, Any]], int],
                        **context: Any) -> web.StreamResponse:
    """Run ``save`` on the form's content and show the alert; or the form with the error."""
    try:
        content = content_of(values, the_districts(request))
        alert_id = await in_transaction(request, lambda session: save(session, content))
    except InvalidInput as error:
        return render_form(request, template, values, status=400,
                           errors={form_field(error.field): error.reason}, **context)
    raise web.HTTPSeeOther(f"/staff/alerts/{alert_id}")


@staff_route(routes, "GET", "/staff/compose", _AUTHOR)
async def compose_form(request: web.Request) -> web.Response:
    chosen = request.app[ALERT_TEMPLATES].get(request.query.get("template", ""))
    values = form_of_template(chosen, utcnow()) if chosen is not None else \
        {"template": "", "status": "Exercise", "districts": [], "response": []}
    return render_form(request, "compose.html.j2", values, action="/staff/compose")


@staff_route(routes, "POST", "/staff/compose", _AUTHOR)
async def compose(request: web.Request) -> web.StreamResponse:
    actor, profile = request[STAFF].actor, request.app[SIGNER].issuer.profile
    values = form_values(await request.post())
    return await saved_or_form(
        request, "compose.html.j2", values,
        lambda session, content: lifecycle.compose(session, actor, content, profile=profile).id,
        action="/staff/compose")


@staff_route(routes, "GET", r"/staff/alerts/{alert_id:\d+}/edit", _AUTHOR)
async def edit_form(request: web.Request) -> web.Response:
    alert_id = alert_id_of(request)
    content = await in_transaction(
        request, lambda session: lifecycle.get_alert(session, alert_id).draft)
    return render_form(request, "compose.html.j2", form_of_content(content), alert_id=alert_id,
                       action=f"/staff/alerts/{alert_id}/edit")


@staff_route(routes, "POST", r"/staff/alerts/{alert_id:\d+}/edit", _AUTHOR)
async def edit(request: web.Request) -> web.StreamResponse:
    actor, alert_id = request[STAFF].actor, alert_id_of(request)
    profile = request.app[SIGNER].issuer.profile
    values = form_values(await request.post())
    return await saved_or_form(
        request, "compose.html.j2", values,
        lambda session, content: lifecycle.edit(session, actor, alert_id, content,
                                                 profile=profile).id,
        alert_id=alert_id, action=f"/staff/alerts/{alert_id}/edit")


@staff_route(routes, "POST", r"/staff/alerts/{alert_id:\d+}/submit", _AUTHOR)
async def submit(request: web.Request) -> web.StreamResponse:
    actor, alert_id = request[STAFF].actor, alert_id_of(request)
    await in_transaction(request, lambda session: lifecycle.submit(session, actor, alert_id))
    raise web.HTTPSeeOther(f"/staff/alerts/{alert_id}")
