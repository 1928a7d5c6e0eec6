"""The whole life of an alert through the REST API alone, on SQLite and the embedded broker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from publisher.cap import load_certificates, verify_alert_xml
from publisher.cap.model import Status
from publisher.cap.signing import SignatureOutcome
from publisher.cap.writer import write_alert
from publisher.config import Settings
from publisher.sample_alert import rainstorm_red_warning
from publisher.store.db import session_scope
from publisher.store.models import OutboxEntry
from tests.integration.api_client import Api
from tests.integration.lifecycle_support import content

pytestmark = pytest.mark.asyncio


async def test_compose_submit_approve_update_cancel(api: Api) -> None:
    created = await api.call("POST", "/api/alerts", user="author", json_body=content())
    assert created.status == 201, created.body
    alert_id = created.body["id"]
    assert created.headers["Location"] == f"/api/alerts/{alert_id}"
    assert created.body["state"] == "draft"
    assert created.body["messages"] == []

    submitted = await api.call("POST", f"/api/alerts/{alert_id}/submit", user="author")
    assert (submitted.status, submitted.body["state"]) == (200, "submitted")

    approved = await api.call("POST", f"/api/alerts/{alert_id}/approve", user="approver")
    assert approved.status == 200, approved.body
    assert approved.body["alert"]["state"] == "published"
    assert approved.body["message"]["msg_type"] == "Alert"
    # The embedded broker is up: the fan-out went to it at once, not later.
    assert approved.body["fanout"] == "enqueued"
    with session_scope(api.sessions) as session:
        entry = session.query(OutboxEntry).filter_by(
            message_id=approved.body["message"]["id"]).one()
        assert entry.dispatched_at is not None

    first = approved.body["message"]
    # An update is the published content, edited: the draft as the API shows it.
    revised = approved.body["alert"]["draft"]
    revised["info"][0]["headline"] = "北京市气象台更新暴雨红色预警信号"
    updated = await api.call("POST", f"/api/alerts/{alert_id}/update", user="second_approver",
                             json_body=revised)
    assert updated.status == 200, updated.body
    assert updated.body["message"]["msg_type"] == "Update"
    assert first["identifier"] in updated.body["message"]["references"]

    cancelled = await api.call("POST", f"/api/alerts/{alert_id}/cancel", user="approver",
                               json_body={"reason": "the rain has passed"})
    assert cancelled.status == 200, cancelled.body
    assert cancelled.body["alert"]["state"] == "cancelled"
    assert cancelled.body["message"]["msg_type"] == "Cancel"
    assert updated.body["message"]["identifier"] in cancelled.body["message"]["references"]

    shown = await api.call("GET", f"/api/alerts/{alert_id}", user="viewer")
    assert [message["msg_type"] for message in shown.body["messages"]] == \
        ["Alert", "Update", "Cancel"]


async def test_public_cap_is_the_signed_latest_message(api: Api,
                                                       api_settings: Settings) -> None:
    unpublished = await api.compose(content())
    assert (await api.call("GET", f"/alerts/{unpublished}.cap")).status == 404

    alert_id = await api.published(content())
    reply = await api.call("GET", f"/alerts/{alert_id}.cap")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/cap+xml")
    trusted = load_certificates([api_settings.paths.keys_dir / "cert.pem"])
    assert verify_alert_xml(reply.body, trusted).outcome is SignatureOutcome.VALID
    shown = await api.call("GET", f"/api/alerts/{alert_id}", user="viewer")
    assert reply.headers["ETag"] == f'"{shown.body["messages"][-1]["sha256"]}"'


async def test_actual_alerts_need_the_approvers_confirmation(api: Api) -> None:
    alert_id = await api.submitted(content(Status.ACTUAL))
    refused = await api.call("POST", f"/api/alerts/{alert_id}/approve", user="approver")
    assert refused.status == 400
    assert refused.body["field"] == "confirm_actual"
    not_a_flag = await api.call("POST", f"/api/alerts/{alert_id}/approve", user="approver",
                                json_body={"confirm_actual": "yes"})
    assert (not_a_flag.status, not_a_flag.body["field"]) == (400, "confirm_actual")
    approved = await api.call("POST", f"/api/alerts/{alert_id}/approve", user="approver",
                              json_body={"confirm_actual": True})
    assert approved.status == 200, approved.body
    assert approved.body["message"]["status"] == "Actual"


async def test_reject_then_edit_and_resubmit(api: Api) -> None:
    alert_id = await api.submitted(content())
    no_reason = await api.call("POST", f"/api/alerts/{alert_id}/reject", user="approver",
                               json_body={})
    assert (no_reason.status, no_reason.body["field"]) == (400, "reason")
    rejected = await api.call("POST", f"/api/alerts/{alert_id}/reject", user="approver",
                              json_body={"reason": "wrong district"})
    assert rejected.status == 200, rejected.body
    assert rejected.body["state"] == "rejected"
    assert rejected.body["rejection_reason"] == "wrong district"

    edited = await api.call("PUT", f"/api/alerts/{alert_id}", user="author",
                            json_body=content(headline="北京市气象台发布暴雨橙色预警信号"))
    assert (edited.status, edited.body["state"]) == (200, "draft"), edited.body
    resubmitted = await api.call("POST", f"/api/alerts/{alert_id}/submit", user="author")
    assert resubmitted.body["state"] == "submitted"


async def test_import_cap_xml(api: Api) -> None:
    xml = write_alert(rainstorm_red_warning(datetime.now(UTC)))
    reply = await api.call("POST", "/api/alerts", user="author", data=xml,
                           content_type="application/cap+xml")
    assert reply.status == 201, reply.body
    assert reply.body["state"] == "draft"
    assert reply.body["draft"]["info"][0]["event"] == "暴雨"


async def test_list_by_state_and_page(api: Api) -> None:
    draft = await api.compose(content())
    submitted = await api.submitted(content())
    listed = await api.call("GET", "/api/alerts?state=submitted", user="viewer")
    assert listed.status == 200
    assert [alert["id"] for alert in listed.body["alerts"]] == [submitted]
    everything = await api.call("GET", "/api/alerts", user="viewer")
    assert [alert["id"] for alert in everything.body["alerts"]] == [submitted, draft]
    assert everything.body["total"] == 2
    beyond = await api.call("GET", "/api/alerts?page=2", user="viewer")
    assert beyond.body["alerts"] == []
    for query, field in (("state=lost", "state"), ("page=0", "page"), ("page=x", "page")):
        refused = await api.call("GET", f"/api/alerts?{query}", user="viewer")
        assert (refused.status, refused.body["field"]) == (400, field), query


async def test_deliveries_summary_and_rows_before_the_worker_ran(api: Api) -> None:
    alert_id = await api.published(content())
    summary = await api.call("GET", f"/api/alerts/{alert_id}/deliveries", user="viewer")
    assert summary.status == 200
    assert summary.body["alert_id"] == alert_id
    assert [message["msg_type"] for message in summary.body["messages"]] == ["Alert"]
    rows = await api.call("GET", f"/api/alerts/{alert_id}/deliveries?channel=memory&page=1",
                          user="viewer")
    assert (rows.status, rows.body["items"], rows.body["total"]) == (200, [], 0)
    refused = await api.call("GET", f"/api/alerts/{alert_id}/deliveries?status=lost",
                             user="viewer")
    assert (refused.status, refused.body["field"]) == (400, "status")
    missing = await api.call("GET", "/api/alerts/999/deliveries", user="viewer")
    assert missing.status == 404
