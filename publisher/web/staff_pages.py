"""Rendering of the staff pages: the layout's context (who, which language, the navigation,
the Exercise/Test banner) around each page's own, and the error pages.

Every page is HTML rendered here on the server; the forms work without
JavaScript.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from aiohttp import web
from yarl import URL

from publisher.cap.model import Status
from publisher.cap.municipal import BEIJING_TIME
from publisher.channels.plain_templates import TEMPLATES_DIR
from publisher.services.audit_log import AUDIT_READERS
from publisher.services.languages import LANGUAGES
from publisher.store.models import Role
from publisher.web.staff_context import CSRF_FIELD, LANGUAGE_PATH, STAFF, staff_language
from publisher.web.staff_text import LANGUAGE_NAMES, TEXT

__all__ = ["BANNER_STATUSES", "NavItem", "beijing_shown", "render", "render_error"]

BANNER_STATUSES = frozenset({str(Status.EXERCISE), str(Status.TEST)})
_SHOWN_TIME = "%Y-%m-%d %H:%M"


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str
    href: str
    roles: tuple[Role, ...] = ()


_NAVIGATION = (
    NavItem("nav_alerts", "/staff/alerts"),
    NavItem("nav_compose", "/staff/compose", (Role.AUTHOR,)),
    NavItem("nav_approvals", "/staff/approvals", (Role.APPROVER,)),
    NavItem("nav_audit", "/staff/audit", AUDIT_READERS),
)


def beijing_shown(moment: datetime | None) -> str:
    return moment.astimezone(BEIJING_TIME).strftime(_SHOWN_TIME) if moment else ""


def _beijing_text(stamp: str | None) -> str:
    """A time of the alert's JSON content (ISO 8601 text) in Beijing time."""
    return beijing_shown(datetime.fromisoformat(stamp)) if stamp else ""


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
                                     autoescape=True, undefined=jinja2.StrictUndefined)
    environment.filters["beijing"] = beijing_shown
    environment.filters["beijing_text"] = _beijing_text
    return environment


def _navigation(request: web.Request, alert_id: int | None) -> list[dict[str, Any]]:
    signed = request.get(STAFF)
    items = list(_NAVIGATION)
    if alert_id is not None:
        items.insert(-1, NavItem("nav_dashboard", f"/staff/alerts/{alert_id}/dashboard"))
    return [{"key": item.key, "href": item.href, "current": request.path == item.href}
            for item in items
            if signed is not None and (not item.roles
                                       or any(signed.actor.has_role(role) for role in item.roles))]


def _language_links(request: web.Request) -> list[dict[str, str]]:
    return [{"tag": tag, "name": LANGUAGE_NAMES[tag],
             "href": str(URL(LANGUAGE_PATH).with_query(lang=tag, next=request.path_qs))}
            for tag in LANGUAGES]


def render(request: web.Request, template: str, *, status: int = 200,
           banner: str | None = None, alert_id: int | None = None,
           **context: Any) -> web.Response:
    """``staff/<template>`` in the layout; ``banner`` is the CAP status of the alert shown."""
    language = staff_language(request)
    signed = request.get(STAFF)
    html = _environment().get_template(f"staff/{template}").render(
        language=language, text=TEXT[language], languages=_language_links(request),
        signed=signed, csrf_field=CSRF_FIELD,
        csrf_token=signed.csrf_token if signed is not None else "",
        navigation=_navigation(request, alert_id), alert_id=alert_id,
        banner=banner if banner in BANNER_STATUSES else None, **context)
    response = web.Response(text=html, status=status, content_type="text/html",
                            charset="utf-8")
    response.headers["Content-Language"] = language
    # Staff pages show drafts and who did what: never kept by a shared cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def render_error(request: web.Request, status: int, title_key: str, message: str,
                 field: str | None = None) -> web.Response:
    return render(request, "error.html.j2", status=status, title_key=title_key,
                  message=message, field=field)
