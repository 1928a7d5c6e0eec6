"""Who reaches which staff page: every route's roles enforced by the server, a session
needed everywhere, the CSRF token on every POST, and the session cookie on the API."""

from __future__ import annotations

import re

import pytest

from publisher.store.models import Role
from publisher.web.staff_auth import STAFF_ROUTES, StaffRoute
from tests.integration.lifecycle_support import content
from tests.integration.staff_support import STAFF_PEOPLE, StaffClient, staff

__all__ = ["staff"]

pytestmark = pytest.mark.asyncio

_PARAMETER = re.compile(r"\{alert_id[^}]*\}")


def _path(route: StaffRoute, alert_id: int) -> str:
    return _PARAMETER.sub(str(alert_id), route.path)


def _refused_holders(route: StaffRoute) -> list[str]:
    return [name for name, roles in STAFF_PEOPLE.items()
            if not set(roles) & set(route.roles)]


async def _draft(staff: StaffClient) -> int:
    await staff.as_user("author")
    reply = await staff.client.post("/api/alerts", json=content(),
                                    headers={"X-CSRF-Token": (await staff.get(
                                        "/staff/alerts")).csrf()})
    assert reply.status == 201, await reply.text()
    return int((await reply.json())["id"])


async def test_every_staff_page_declares_its_roles() -> None:
    declared = {(route.method, route.path) for route in STAFF_ROUTES}
    assert ("GET", "/staff/compose") in declared
    assert ("POST", r"/staff/alerts/{alert_id:\d+}/approve") in declared
    assert all(route.roles for route in STAFF_ROUTES)
    compose = next(route for route in STAFF_ROUTES if route.path == "/staff/compose")
    assert compose.roles == (Role.AUTHOR,)


@pytest.mark.parametrize("route", [route for route in STAFF_ROUTES if _refused_holders(route)],
                         ids=lambda route: f"{route.method} {route.path}")
async def test_a_role_without_the_right_is_refused(staff: StaffClient, route: StaffRoute) -> None:
    alert_id = await _draft(staff)
    for username in _refused_holders(route):
        await staff.as_user(username)
        token = (await staff.get("/staff/alerts")).csrf()
        path = _path(route, alert_id)
        page = await (staff.get(path) if route.method == "GET" else
                      staff.post(path, {"reason": "x", "confirm": "yes"}, csrf=token))
        assert page.status == 403, (username, page.status, page.text[:300])
        assert 'data-field="role"' in page.text
        assert all(f"({role})" in page.text for role in route.roles)
    assert staff.alert(alert_id).state == "draft", "a refused request changes nothing"


@pytest.mark.parametrize("route", STAFF_ROUTES, ids=lambda route: f"{route.method} {route.path}")
async def test_without_a_session_every_page_sends_to_the_login(
        staff: StaffClient, route: StaffRoute) -> None:
    path = _path(route, 1)
    page = await (staff.get(path) if route.method == "GET" else staff.post(path, {}))
    assert page.status == 303
    assert page.location is not None and page.location.startswith("/staff/login?next=")


async def test_a_post_without_the_csrf_token_is_refused(staff: StaffClient) -> None:
    alert_id = await _draft(staff)
    for token in (None, "forged"):
        page = await staff.post(f"/staff/alerts/{alert_id}/submit", {}, csrf=token)
        assert page.status == 403
        assert 'data-field="csrf_token"' in page.text
    assert staff.alert(alert_id).state == "draft"
    await staff.as_user("viewer")
    assert (await staff.post("/staff/logout", {}, csrf=None)).status == 403


async def test_the_session_cookie_opens_the_api_and_writes_need_the_csrf_header(
        staff: StaffClient) -> None:
    alert_id = await _draft(staff)
    async with staff.client.get(f"/api/alerts/{alert_id}") as reply:
        assert reply.status == 200
    async with staff.client.post(f"/api/alerts/{alert_id}/submit") as reply:
        assert reply.status == 403
        assert (await reply.json())["field"] == "X-CSRF-Token"
    token = (await staff.get("/staff/alerts")).csrf()
    async with staff.client.post(f"/api/alerts/{alert_id}/submit",
                                 headers={"X-CSRF-Token": token}) as reply:
        assert reply.status == 200
        assert (await reply.json())["state"] == "submitted"
    staff.client.session.cookie_jar.clear()
    async with staff.client.get(f"/api/alerts/{alert_id}") as reply:
        assert reply.status == 401
