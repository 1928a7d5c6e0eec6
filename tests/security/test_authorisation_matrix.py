"""Every route of the application, for every staff role and anonymous, against one table of
who may do what.

The routes come from the application's router, so a route added without an
entry here fails. Anonymous callers get 401 from the API and a redirect to
the login page from the staff pages; a staff role the table does not name
gets 403; a role it names gets past authorisation (any answer but 401, 403
or the login page). Routes called by something other than a staff person
(devices, district nodes, apps, agencies, signed senders, webhooks) refuse
every staff token and anonymous callers alike; public routes answer anyone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from publisher.config import Settings
from publisher.services.users import create_token
from publisher.store.db import session_scope
from publisher.store.models import Role
from publisher.web.app import create_app
from tests.integration.lifecycle_support import content
from tests.integration.staff_support import PASSWORD, make_staff

pytestmark = pytest.mark.asyncio

AUTHOR, APPROVER, ADMIN = Role.AUTHOR, Role.APPROVER, Role.ADMIN
OPERATOR, VIEWER = Role.DISTRICT_OPERATOR, Role.VIEWER
EVERY_ROLE = frozenset(Role)
# The person of each role (tests.integration.staff_support makes them, with a password).
PERSON = {AUTHOR: "author", APPROVER: "approver", ADMIN: "admin", OPERATOR: "operator",
          VIEWER: "viewer"}
ANONYMOUS = "anonymous"

# Routes for anyone, and routes whose callers prove who they are with a credential of
# their own (a device's token, a node's or an app's or an agency's credential, a
# signature, a password), which no staff token or session stands for.
PUBLIC = "public"
OWN_CREDENTIAL = "own credential"
Access = frozenset[Role] | str
_ALERT = "/api/alerts/{alert_id}"
_SUBSCRIBER = "/api/subscribers/{kind}/{value}"
_STAFF_ALERT = "/staff/alerts/{alert_id}"

# Who may use each route (HEAD goes with GET): the roles, or the kind of caller it is for.
ACCESS: dict[tuple[str, str], Access] = {
    # The REST API: staff people.
    ("POST", "/api/alerts"): frozenset({AUTHOR}),
    ("GET", "/api/alerts"): EVERY_ROLE,
    ("GET", _ALERT): EVERY_ROLE,
    ("PUT", _ALERT): frozenset({AUTHOR}),
    ("POST", _ALERT + "/submit"): frozenset({AUTHOR}),
    ("POST", _ALERT + "/reject"): frozenset({APPROVER}),
    ("POST", _ALERT + "/approve"): frozenset({APPROVER}),
    ("POST", _ALERT + "/update"): frozenset({APPROVER}),
    ("POST", _ALERT + "/cancel"): frozenset({APPROVER}),
    ("GET", _ALERT + "/deliveries"): EVERY_ROLE,
    ("GET", _ALERT + "/dashboard"): EVERY_ROLE,
    ("GET", _ALERT + "/dashboard/events"): EVERY_ROLE,
    ("POST", _ALERT + "/retry-failed"): frozenset({APPROVER, ADMIN}),
    ("GET", _ALERT + "/previews"): frozenset({AUTHOR, APPROVER}),
    ("GET", _ALERT + "/preview/led/{lang}/{page}.png"): frozenset({AUTHOR, APPROVER}),
    ("GET", _ALERT + "/preview/speaker"): frozenset({AUTHOR, APPROVER}),
    ("GET", _ALERT + "/preview/speaker.wav"): frozenset({AUTHOR, APPROVER}),
    ("POST", "/api/areas/reach"): frozenset({AUTHOR, APPROVER}),
    ("POST", "/api/subscribers/import"): frozenset({ADMIN}),
    ("GET", "/api/subscribers/{msisdn}"): frozenset({ADMIN}),
    ("POST", "/api/subscribers"): frozenset({ADMIN}),
    ("GET", _SUBSCRIBER): frozenset({ADMIN}),
    ("PATCH", _SUBSCRIBER): frozenset({ADMIN}),
    ("DELETE", _SUBSCRIBER): frozenset({ADMIN}),
    ("POST", _SUBSCRIBER + "/contact-points"): frozenset({ADMIN}),
    ("GET", "/api/devices"): frozenset({ADMIN}),
    ("POST", "/api/devices"): frozenset({ADMIN}),
    ("GET", "/api/devices/{device_id}"): frozenset({ADMIN}),
    ("DELETE", "/api/devices/{device_id}"): frozenset({ADMIN}),
    ("GET", "/api/nodes"): EVERY_ROLE,
    ("POST", "/api/nodes"): frozenset({ADMIN}),
    ("GET", "/api/nodes/{code}"): EVERY_ROLE,
    ("DELETE", "/api/nodes/{code}"): frozenset({ADMIN}),
    ("GET", "/api/apps"): frozenset({ADMIN}),
    ("POST", "/api/apps"): frozenset({ADMIN}),
    ("DELETE", "/api/apps/{name}"): frozenset({ADMIN}),
    ("GET", "/api/apps/{name}/report"): frozenset({ADMIN}),
    ("GET", "/api/agencies"): frozenset({ADMIN}),
    ("POST", "/api/agencies"): frozenset({ADMIN}),
    ("GET", "/api/agencies/{code}"): frozenset({ADMIN}),
    ("PATCH", "/api/agencies/{code}"): frozenset({ADMIN}),
    ("DELETE", "/api/agencies/{code}"): frozenset({ADMIN}),
    ("GET", "/api/agencies/{code}/report"): frozenset({ADMIN}),
    # The REST API: other callers, each with a credential of its own.
    ("POST", "/api/devices/{device_id}/acks"): OWN_CREDENTIAL,
    ("POST", "/api/devices/{device_id}/heartbeat"): OWN_CREDENTIAL,
    ("GET", "/api/nodes/{code}/messages"): OWN_CREDENTIAL,
    ("POST", "/api/nodes/{code}/receipts"): OWN_CREDENTIAL,
    ("POST", "/api/nodes/{code}/alerts"): OWN_CREDENTIAL,
    ("GET", "/api/stream"): OWN_CREDENTIAL,
    ("POST", "/api/stream/acks"): OWN_CREDENTIAL,
    ("POST", "/api/intake"): OWN_CREDENTIAL,
    ("GET", "/api/intake/{id}"): OWN_CREDENTIAL,
    ("POST", "/api/eew"): OWN_CREDENTIAL,
    ("GET", "/api/timeline"): PUBLIC,
    ("GET", "/api/openapi.json"): PUBLIC,
    # Webhooks: the provider's signature is the credential.
    ("GET", "/wechat/callback"): OWN_CREDENTIAL,
    ("POST", "/wechat/callback"): OWN_CREDENTIAL,
    ("POST", "/webhooks/twilio/status"): OWN_CREDENTIAL,
    ("POST", "/webhooks/twilio/inbound"): OWN_CREDENTIAL,
    # Public pages, feeds and files.
    ("GET", "/"): PUBLIC,
    ("GET", "/alerts/{alert_id}"): PUBLIC,
    ("GET", "/alerts/{alert_id}.cap"): PUBLIC,
    ("GET", "/audio/{key}.wav"): PUBLIC,
    ("GET", "/feeds/alerts.atom"): PUBLIC,
    ("GET", "/feeds/alerts.rss"): PUBLIC,
    ("GET", "/static/dashboard.js"): PUBLIC,
    ("GET", "/static/district_map.js"): PUBLIC,
    ("GET", "/staff/static"): PUBLIC,
    ("GET", "/staff/login"): PUBLIC,
    ("POST", "/staff/login"): OWN_CREDENTIAL,
    ("GET", "/staff/language"): PUBLIC,
    ("GET", "/health"): PUBLIC,
    ("GET", "/health/live"): PUBLIC,
    ("GET", "/health/ready"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    # The staff pages.
    ("GET", "/staff/"): EVERY_ROLE,
    ("POST", "/staff/logout"): EVERY_ROLE,
    ("GET", "/staff/alerts"): EVERY_ROLE,
    ("GET", _STAFF_ALERT): EVERY_ROLE,
    ("GET", "/staff/compose"): frozenset({AUTHOR}),
    ("POST", "/staff/compose"): frozenset({AUTHOR}),
    ("GET", _STAFF_ALERT + "/edit"): frozenset({AUTHOR}),
    ("POST", _STAFF_ALERT + "/edit"): frozenset({AUTHOR}),
    ("POST", _STAFF_ALERT + "/submit"): frozenset({AUTHOR}),
    ("GET", "/staff/approvals"): frozenset({APPROVER}),
    ("GET", _STAFF_ALERT + "/approve"): frozenset({APPROVER}),
    ("POST", _STAFF_ALERT + "/approve"): frozenset({APPROVER}),
    ("POST", _STAFF_ALERT + "/reject"): frozenset({APPROVER}),
    ("GET", _STAFF_ALERT + "/update"): frozenset({APPROVER}),
    ("POST", _STAFF_ALERT + "/update"): frozenset({APPROVER}),
    ("GET", _STAFF_ALERT + "/cancel"): frozenset({APPROVER}),
    ("POST", _STAFF_ALERT + "/cancel"): frozenset({APPROVER}),
    ("GET", "/staff/audit"): frozenset({ADMIN, APPROVER, VIEWER}),
    ("GET", _STAFF_ALERT + "/dashboard"): EVERY_ROLE,
    ("GET", _STAFF_ALERT + "/dashboard/chart.svg"): EVERY_ROLE,
    ("POST", _STAFF_ALERT + "/dashboard/retry-failed"): frozenset({ADMIN, APPROVER}),
}

_PATH_VALUES = {"msisdn": "+8613800138000", "kind": "msisdn", "value": "+8613800138000",
                "device_id": "led-1", "code": "110105", "name": "weather-app", "id": "1",
                "lang": "zh-CN", "page": "1", "key": "0" * 64}
_PARAMETER = re.compile(r"\{(\w+)\}")
# Bodies that get a request past the checks of its shape, to where the role is decided.
_REASON = {"reason": "not needed"}
_JSON_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/alerts"): content(),
    ("PUT", _ALERT): content(),
    ("POST", _ALERT + "/reject"): _REASON,
    ("POST", _ALERT + "/update"): content(),
    ("POST", _ALERT + "/cancel"): _REASON,
    ("POST", "/api/areas/reach"): {"districts": ["110105"]},
    ("POST", "/api/stream/acks"): {"events": [1]},
    ("POST", "/api/devices/{device_id}/acks"): {"delivery": "1", "status": "shown"},
}
_CSV_ROUTE = ("POST", "/api/subscribers/import")
# The webhooks' providers, configured so that the signature is what refuses.
_WEBHOOK_OPTIONS = {
    "wechat": {"callback_token": "the-callback-token"},
    "sms": {"routes": [{"name": "rest", "priority": 0, "kind": "twilio",
                        "base_url": "http://127.0.0.1:9", "account_sid": "AC" + "0" * 32,
                        "auth_token": "the-auth-token", "from": "+12025550100",
                        "public_url": "http://127.0.0.1:9"}]},
}
_DEVICE = {"device_id": _PATH_VALUES["device_id"], "kind": "led", "endpoint": "http://127.0.0.1:9",
           "district_code": "110105", "lon": 116.44, "lat": 39.92}
_XML_ROUTES = {("POST", "/api/intake"), ("POST", "/api/eew"),
               ("POST", "/api/nodes/{code}/alerts")}


@dataclass(frozen=True)
class Answer:
    status: int
    location: str
    body: bytes


@dataclass
class Installation:
    client: TestClient[Any, Any]
    tokens: dict[Role, str]
    csrf: dict[Role, str]
    session_cookies: dict[Role, str]
    alert_id: int


def _routes(app: web.Application) -> list[tuple[str, str]]:
    found = {(route.method, route.resource.canonical) for route in app.router.routes()
             if route.resource is not None and route.method != "HEAD"}
    # Removals go last, so that the routes of what they remove still find it; logging
    # out last of all, since it ends the session the other requests of a person use.
    return sorted(found, key=lambda route: (route == ("POST", "/staff/logout"),
                                            route[0] == "DELETE", route))


@pytest_asyncio.fixture
async def installation(aiohttp_client: Any, api_settings: Settings, sessions: Any,
                       unsigned_alert: bytes) -> Installation:
    make_staff(sessions)
    with session_scope(sessions) as session:
        tokens = {role: create_token(session, PERSON[role], "tests") for role in Role}
    settings = replace(api_settings, channel_options={**api_settings.channel_options,
                                                      **_WEBHOOK_OPTIONS})
    client = await aiohttp_client(create_app(settings))
    csrf, cookies = {}, {}
    for role in Role:
        client.session.cookie_jar.clear()
        form = await client.get("/staff/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', await form.text())
        assert token is not None
        async with client.post("/staff/login", allow_redirects=False, data={
                "username": PERSON[role], "password": PASSWORD,
                "csrf_token": token[1]}) as response:
            assert response.status == 303, await response.text()
            cookies[role] = response.cookies["staff_session"].value
        page = await client.get("/staff/alerts", cookies={"staff_session": cookies[role]})
        found = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
        assert found is not None
        csrf[role] = found[1]
    client.session.cookie_jar.clear()
    async with client.post("/api/alerts", json=content(),
                           headers={"Authorization": f"Bearer {tokens[AUTHOR]}"}) as created:
        assert created.status == 201, await created.text()
        alert_id = (await created.json())["id"]
    # A device that exists, so that its routes judge the credential rather than the id.
    async with client.post("/api/devices", json=_DEVICE,
                           headers={"Authorization": f"Bearer {tokens[ADMIN]}"}) as added:
        assert added.status == 201, await added.text()
    return Installation(client, tokens, csrf, cookies, alert_id)


def _path(canonical: str, alert_id: int) -> str:
    if canonical == "/staff/static":
        return "/staff/static/staff.css"
    values = {**_PATH_VALUES, "alert_id": str(alert_id)}
    path = _PARAMETER.sub(lambda match: values[match[1]], canonical)
    return path + "?route=rest" if path.startswith("/webhooks/twilio/") else path


async def _call(installation: Installation, route: tuple[str, str], who: Role | str,
                unsigned_alert: bytes) -> Answer:
    method, canonical = route
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    data: bytes | dict[str, str] | None = None
    if canonical.startswith("/staff/") and isinstance(who, Role):
        cookies["staff_session"] = installation.session_cookies[who]
        if method == "POST":
            data = {"csrf_token": installation.csrf[who]}
    elif isinstance(who, Role):
        headers["Authorization"] = f"Bearer {installation.tokens[who]}"
    if route == _CSV_ROUTE:
        headers["Content-Type"], data = "text/csv", b"msisdn,district\n"
    elif route in _XML_ROUTES:
        headers["Content-Type"], data = "application/cap+xml", unsigned_alert
    elif canonical.startswith("/api/") and method in ("POST", "PUT", "PATCH"):
        headers["Content-Type"] = "application/json"
        data = json.dumps(_JSON_BODIES.get(route, {})).encode()
    installation.client.session.cookie_jar.clear()
    async with installation.client.request(
            method, _path(canonical, installation.alert_id), data=data, headers=headers,
            cookies=cookies, allow_redirects=False,
            timeout=30) as response:
        # A stream answers its headers at once; its body never ends.
        body = b"" if response.content_type == "text/event-stream" else await response.read()
        return Answer(response.status, response.headers.get("Location", ""), body)


def _login_redirect(answer: Answer) -> bool:
    return answer.status in (302, 303) and answer.location.startswith("/staff/login?next=")


def _problem(route: tuple[str, str], who: Role | str, answer: Answer) -> str | None:
    """What is wrong with ``answer`` to ``who`` on ``route``, by the table; None if nothing."""
    access, (_, path) = ACCESS[route], route
    staff_page = path.startswith("/staff/")
    refused = answer.status in (401, 403) or _login_redirect(answer)
    if access == PUBLIC:
        wrong = refused
    elif access == OWN_CREDENTIAL:
        wrong = answer.status not in (401, 403)
    elif who == ANONYMOUS:
        wrong = not _login_redirect(answer) if staff_page else answer.status != 401
    elif who in access:
        wrong = refused
    else:
        wrong = answer.status != 403
    if not wrong and not staff_page and answer.status in (401, 403):
        error = json.loads(answer.body)
        if not {"error", "field", "reason"} <= set(error):
            return f"{route} as {who}: {answer.status} not in the error shape: {error}"
    if wrong:
        return f"{route} as {who}: {answer.status} {answer.location} {answer.body[:200]!r}"
    return None


async def test_the_table_names_every_route(installation: Installation) -> None:
    routed = set(_routes(installation.client.app))
    assert routed - ACCESS.keys() == set(), "routes without an entry in ACCESS"
    assert ACCESS.keys() - routed == set(), "entries in ACCESS for no route"


async def test_every_route_answers_every_role_and_anonymous_as_the_table_says(
        installation: Installation, unsigned_alert: bytes) -> None:
    problems = []
    for route in _routes(installation.client.app):
        for who in (ANONYMOUS, *Role):
            answer = await _call(installation, route, who, unsigned_alert)
            problem = _problem(route, who, answer)
            if problem is not None:
                problems.append(problem)
    assert problems == [], "\n".join(problems)
