"""The node's operator pages: server-rendered, in Chinese and English, no JavaScript needed.

- ``GET|POST /ui/login``, ``POST /ui/logout``: a district user signs in with
  the password ``publisher district-node user add`` set;
- ``GET /ui/``: every message the node holds, city or district, its state
  and its counts per channel;
- ``GET|POST /ui/compose``: a district alert, or (``msg_type``,
  ``references``) an Update or a Cancel of one in force, with the same
  checks as ``POST /api/local/alerts`` and each error beside its field;
- ``GET /ui/drafts``, ``POST /ui/drafts/{id}/approve``: the drafts, approved
  by a second user, and the district alerts in force, to update or cancel.

Every form carries the session's CSRF token; a POST without it is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy import select

from district_nodes.config import NodeConfig
from district_nodes.local_alerts import (
    DraftError,
    approve,
    authenticate,
    compose,
    listing,
    revisable,
)
from district_nodes.node import DistrictNode
from district_nodes.operator_sessions import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    OperatorSession,
    OperatorSessions,
    new_token,
    same_token,
    set_cookie,
)
from district_nodes.operator_text import TEXT, page_language
from district_nodes.store import StoredMessage
from district_nodes.tallies import delivery_counts
from publisher.cap.model import Category, Certainty, Severity, Status, Urgency
from publisher.store.db import session_scope

__all__ = ["add_operator_pages"]

TEMPLATES = Path(__file__).with_name("templates")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';"
                               " form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store"}
_TEXT_FIELDS = ("event", "headline", "description", "instruction", "severity", "urgency",
                "certainty", "category", "status", "language")
CHOICES: Mapping[str, tuple[str, ...]] = {
    "severity": tuple(member.value for member in Severity),
    "urgency": tuple(member.value for member in Urgency),
    "certainty": tuple(member.value for member in Certainty),
    "category": tuple(member.value for member in Category),
    "status": tuple(member.value for member in Status),
}

PageView = Callable[[web.Request, OperatorSession], Awaitable[web.StreamResponse]]


class _Pages:
    def __init__(self, node_key: web.AppKey[DistrictNode], config: NodeConfig) -> None:
        self.node_key = node_key
        self.config = config
        self.sessions = OperatorSessions()
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
            undefined=jinja2.StrictUndefined)

    def render(self, request: web.Request, template: str, status: int = 200,
               **context: Any) -> web.Response:
        language = page_language(request.query.get("lang"),
                                 request.headers.get("Accept-Language", ""))
        other = "en" if language == "zh" else "zh"
        html = self.templates.get_template(template).render(
            t=lambda key: TEXT[key][language], lang=language, other_lang=other,
            query=f"?lang={language}", node=self.config, choices=CHOICES, **context)
        return web.Response(text=html, status=status, content_type="text/html",
                            charset="utf-8", headers=SECURITY_HEADERS)

    def signed_in(self, view: PageView, *, posting: bool = False
                  ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            session = self.sessions.find(request)
            if session is None:
                return _see_other(_with_language(request, "/ui/login"))
            if posting:
                form = await request.post()
                if not same_token(_field(form, "csrf"), session.csrf):
                    return self.render(request, "refused.html.j2", status=403,
                                       user=session.username, csrf=session.csrf)
            return await view(request, session)
        return guarded

    # --- signing in ---

    async def login_form(self, request: web.Request, error: str | None = None,
                         status: int = 200) -> web.Response:
        token = new_token()
        response = self.render(request, "login.html.j2", status=status, csrf=token,
                               error=error, user=None)
        set_cookie(response, LOGIN_COOKIE, token, SESSION_SECONDS)
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        if not same_token(_field(form, "csrf"), request.cookies.get(LOGIN_COOKIE, "")):
            return await self.login_form(request, "csrf_failed", status=403)
        username, password = _field(form, "username") or "", _field(form, "password") or ""
        node = request.app[self.node_key]

        def check() -> bool:
            with session_scope(node.sessions) as session:
                return authenticate(session, username, password)

        if not await asyncio.to_thread(check):
            return await self.login_form(request, "login_failed", status=401)
        session_id, _ = self.sessions.open(username)
        response = _see_other(_with_language(request, "/ui/"))
        set_cookie(response, SESSION_COOKIE, session_id, SESSION_SECONDS)
        response.del_cookie(LOGIN_COOKIE, path="/")
        return response

    async def logout(self, request: web.Request, _session: OperatorSession
                     ) -> web.StreamResponse:
        self.sessions.close(request)
        response = _see_other(_with_language(request, "/ui/login"))
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    # --- pages ---

    async def messages(self, request: web.Request, session: OperatorSession
                       ) -> web.StreamResponse:
        node = request.app[self.node_key]
        with session_scope(node.sessions) as store:
            rows = [{"identifier": stored.identifier, "msg_type": stored.msg_type,
                     "origin": stored.origin, "state": stored.state,
                     "counts": delivery_counts(store, stored.id)}
                    for stored in store.scalars(select(StoredMessage)
                                                .order_by(StoredMessage.id.desc()))]
        return self.render(request, "messages.html.j2", user=session.username,
                           csrf=session.csrf, messages=rows)

    async def compose_form(self, request: web.Request, session: OperatorSession
                           ) -> web.StreamResponse:
        values = {"msg_type": request.query.get("msg_type", "Alert"),
                  "references": request.query.get("references", "")}
        return self.render(request, "compose.html.j2", user=session.username,
                           csrf=session.csrf, values=values, errors={}, done=None)

    async def compose(self, request: web.Request, session: OperatorSession
                      ) -> web.StreamResponse:
        form = await request.post()
        values = {name: value for name, value in form.items()
                  if isinstance(value, str) and name != "csrf"}
        node = request.app[self.node_key]
        try:
            with session_scope(node.sessions) as store:
                local_id = compose(store, session.username, draft_of(values),
                                   node.config).id
        except DraftError as error:
            return self.render(request, "compose.html.j2", status=error.status,
                               user=session.username, csrf=session.csrf, values=values,
                               errors={form_field(error.field): error.reason}, done=None)
        return self.render(request, "compose.html.j2", status=201, user=session.username,
                           csrf=session.csrf, values={"msg_type": "Alert"}, errors={},
                           done=local_id)

    async def drafts(self, request: web.Request, session: OperatorSession,
                     errors: Mapping[int, str] | None = None, status: int = 200,
                     done: str | None = None) -> web.Response:
        node = request.app[self.node_key]
        with session_scope(node.sessions) as store:
            alerts = list(reversed(listing(store)))
            in_force = [{"identifier": stored.identifier, "msg_type": stored.msg_type}
                        for stored in revisable(store, node.config)]
        return self.render(request, "drafts.html.j2", status=status, user=session.username,
                           csrf=session.csrf, alerts=alerts, in_force=in_force,
                           errors=errors or {}, done=done)

    async def approve(self, request: web.Request, session: OperatorSession
                      ) -> web.StreamResponse:
        node = request.app[self.node_key]
        local_id = int(request.match_info["alert_id"])
        try:
            answer = await node.publish_local(
                lambda store: approve(store, local_id, session.username, node.config))
        except DraftError as error:
            return await self.drafts(request, session, {local_id: error.reason}, error.status)
        return await self.drafts(request, session, done=str(answer["identifier"]))


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, **SECURITY_HEADERS})


def _field(form: MultiDictProxy[Any], name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _with_language(request: web.Request, path: str) -> str:
    language = request.query.get("lang")
    return f"{path}?{urlencode({'lang': language})}" if language else path


def _polygon(text: str) -> list[list[str]]:
    return [[part.strip() for part in line.split(",")]
            for line in text.splitlines() if line.strip()]


def draft_of(values: Mapping[str, str]) -> dict[str, Any]:
    """The form as the JSON draft ``POST /api/local/alerts`` takes."""
    msg_type = values.get("msg_type", "Alert")
    draft: dict[str, Any] = {"msg_type": msg_type}
    if values.get("references", "").strip():
        draft["references"] = values["references"].strip()
    if msg_type == "Cancel":
        draft["note"] = values.get("note", "")
        return draft
    draft.update({name: values[name] for name in _TEXT_FIELDS if values.get(name, "").strip()})
    hours = values.get("expires_in_hours", "").strip()
    if hours:
        try:
            draft["expires_in_hours"] = float(hours)
        except ValueError:
            draft["expires_in_hours"] = hours
    area: dict[str, Any] = {"area_desc": values.get("area_desc", "")}
    codes = [code.strip() for code in values.get("geocodes", "").split(",") if code.strip()]
    if codes:
        area["geocodes"] = codes
    if values.get("polygon", "").strip():
        area["polygons"] = [_polygon(values["polygon"])]
    draft["areas"] = [area]
    return draft


def form_field(field: str) -> str:
    """The form field beside which the page shows an error of the draft's ``field``."""
    if field.startswith("areas"):
        return ("polygon" if ".polygons" in field else "geocodes" if ".geocodes" in field
                else "area_desc")
    return field


def add_operator_pages(app: web.Application, node_key: web.AppKey[DistrictNode],
                       config: NodeConfig) -> None:
    pages = _Pages(node_key, config)
    app.router.add_get("/ui/login", pages.login_form)
    app.router.add_post("/ui/login", pages.login)
    app.router.add_post("/ui/logout", pages.signed_in(pages.logout, posting=True))
    app.router.add_get("/ui/", pages.signed_in(pages.messages))
    app.router.add_get("/ui/compose", pages.signed_in(pages.compose_form))
    app.router.add_post("/ui/compose", pages.signed_in(pages.compose, posting=True))
    app.router.add_get("/ui/drafts", pages.signed_in(pages.drafts))
    app.router.add_post(r"/ui/drafts/{alert_id:\d+}/approve",
                        pages.signed_in(pages.approve, posting=True))
