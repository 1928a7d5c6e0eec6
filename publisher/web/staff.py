"""The staff web pages under ``/staff/``: their routes, their static files, their resources."""

from __future__ import annotations

from aiohttp import web

from publisher.channels.plain_templates import TEMPLATES_DIR
from publisher.web import (
    staff_alerts,
    staff_approval,
    staff_compose,
    staff_login,
    staff_revisions,
)
from publisher.web.staff_context import STATIC_PREFIX

__all__ = ["add_staff_pages"]

STATIC_DIR = TEMPLATES_DIR / "staff" / "static"


def add_staff_pages(app: web.Application) -> None:
    """Every staff page, the template library they start from, and the CSS and script."""
    app.cleanup_ctx.append(staff_compose.load_templates)
    for module in (staff_login, staff_alerts, staff_compose, staff_approval, staff_revisions):
        app.add_routes(module.routes)
    app.router.add_static(STATIC_PREFIX, STATIC_DIR, name="staff_static")
