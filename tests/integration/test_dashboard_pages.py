"""The dashboard and audit log pages at the HTTP level: signed in, roles, CSRF, read-only."""

from __future__ import annotations

import re

import pytest
from aiohttp import web
from sqlalchemy import func, select

from publisher.channels.memory import MemoryChannel
from publisher.store.db import session_scope
from publisher.store.models import AuditEntry, Delivery, DeliveryStatus
from publisher.web.staff_auth import STAFF_ROUTES
from tests.integration.fanout_support import add_targets, deliver_in_process, publish
from tests.integration.staff_support import StaffClient, staff

__all__ = ["staff"]

pytestmark = pytest.mark.asyncio


def _delivered(client: StaffClient) -> int:
    """A published Exercise: two memory deliveries delivered, one refused."""
    with client.sessions() as session:
        add_targets(session, 2, is_test=True)
        add_targets(session, 1, is_test=True, prefix="reject:x")
        message = publish(session)
    deliver_in_process(client.sessions, message.id, MemoryChannel())
    return message.alert_id


def _audit_rows(client: StaffClient) -> int:
    with session_scope(client.sessions) as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


async def test_any_staff_role_sees_the_dashboard_without_script(staff: StaffClient) -> None:
    alert_id = _delivered(staff)
    await staff.as_user("viewer")
    page = await staff.get(f"/staff/alerts/{alert_id}/dashboard")
    assert page.status == 200, page.text
    assert re.search(r'data-cell="\d+:memory:delivered">2<', page.text)
    assert re.search(r'data-cell="\d+:memory:failed">1<', page.text)
    assert "<svg" in page.text
    assert "rejected: no such address" in page.text
    assert 'data-banner="Exercise"' in page.text
    # A viewer is shown no retry button, and the server refuses one anyway.
    assert "retry-failed" not in page.text
    refused = await staff.post(f"/staff/alerts/{alert_id}/dashboard/retry-failed", {},
                               csrf=page.csrf())
    assert refused.status == 403


async def test_an_approver_retries_the_failed_deliveries_with_the_form(
        staff: StaffClient) -> None:
    alert_id = _delivered(staff)
    await staff.as_user("approver")
    path = f"/staff/alerts/{alert_id}/dashboard"
    without_token = await staff.post(f"{path}/retry-failed", {"channel": "memory"})
    assert without_token.status == 403
    assert staff.audited("retry_failed_deliveries") == 0

    done = await staff.form_post(path, f"{path}/retry-failed", {"channel": "memory"})
    assert done.status == 303
    assert done.location == f"{path}?retried=1"
    assert staff.audited("retry_failed_deliveries") == 1
    with session_scope(staff.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.status == DeliveryStatus.QUEUED)) == 1
    shown = await staff.get(done.location)
    assert 'data-retried="1"' in shown.text


async def test_the_chart_and_the_script_are_served_by_the_app(staff: StaffClient) -> None:
    alert_id = _delivered(staff)
    await staff.as_user("viewer")
    page = await staff.get(f"/staff/alerts/{alert_id}/dashboard")
    message_id = re.search(r'data-message="(\d+)"', page.text)
    assert message_id is not None
    async with staff.client.get(f"/staff/alerts/{alert_id}/dashboard/chart.svg"
                                f"?message={message_id[1]}") as chart:
        assert chart.status == 200
        assert chart.content_type == "image/svg+xml"
        assert (await chart.text()).startswith("<svg")
    missing = await staff.get(f"/staff/alerts/{alert_id}/dashboard/chart.svg?message=999999")
    assert missing.status == 404
    async with staff.client.get("/static/dashboard.js") as script:
        assert script.status == 200
        assert "EventSource" in await script.text()


async def test_the_audit_log_filters_by_alert_user_and_action(staff: StaffClient) -> None:
    alert_id = _delivered(staff)
    await staff.as_user("approver")
    path = f"/staff/alerts/{alert_id}/dashboard"
    await staff.form_post(path, f"{path}/retry-failed", {})
    await staff.as_user("admin")

    everything = await staff.get("/staff/audit")
    assert everything.status == 200, everything.text
    assert 'data-action="retry_failed_deliveries"' in everything.text
    assert 'data-action="login"' in everything.text

    by_action = await staff.get("/staff/audit?action=retry_failed_deliveries")
    assert set(re.findall(r'data-action="([a-z_]+)"', by_action.text)) == {
        "retry_failed_deliveries"}
    by_user = await staff.get("/staff/audit?user=admin")
    assert re.findall(r'<tr data-entry="\d+" data-action="([a-z_]+)"', by_user.text) == ["login"]
    by_alert = await staff.get(f"/staff/audit?alert={alert_id}")
    assert 'data-audit-total="1"' in by_alert.text
    other_alert = await staff.get(f"/staff/audit?alert={alert_id + 1}")
    assert 'data-audit-total="0"' in other_alert.text
    bad = await staff.get("/staff/audit?alert=abc")
    assert bad.status == 400


@pytest.mark.parametrize("user", ["author", "operator"])
async def test_the_audit_log_is_for_admins_approvers_and_viewers(staff: StaffClient,
                                                                 user: str) -> None:
    await staff.as_user(user)
    assert (await staff.get("/staff/audit")).status == 403
    await staff.as_user("viewer")
    assert (await staff.get("/staff/audit")).status == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_nothing_can_change_the_audit_log(staff: StaffClient, method: str) -> None:
    await staff.as_user("admin")
    token = (await staff.get("/staff/alerts")).csrf()
    before = _audit_rows(staff)
    async with staff.client.request(method, "/staff/audit", data={"csrf_token": token},
                                    allow_redirects=False) as response:
        assert response.status == 405
    assert _audit_rows(staff) == before
    declared = {(route.method, route.path) for route in STAFF_ROUTES
                if route.path.startswith("/staff/audit")}
    assert declared == {("GET", "/staff/audit")}
    app: web.Application = staff.client.app
    methods = {route.method for route in app.router.routes()
               if route.resource is not None and route.resource.canonical.startswith(
                   "/staff/audit")}
    assert methods == {"GET", "HEAD"}
