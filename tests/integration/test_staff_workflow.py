"""The staff pages' story at the HTTP level: compose from a template, errors next to their
fields, submit, the two-person rule, the typed confirmation of an Actual alert, a rejection's
reason, Update with its changes, and a Cancel naming exactly the messages it cancels."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.cap.model import Status
from publisher.services.alert_templates import load_alert_templates
from publisher.store.db import session_scope
from publisher.store.models import Agency, Alert, AlertState, IntakeRecord, User, utcnow
from publisher.web.staff_form import form_of_template
from tests.integration.staff_support import StaffClient, staff

__all__ = ["staff"]

pytestmark = pytest.mark.asyncio

CONFIG = Path(__file__).resolve().parents[2] / "config"
CHAOYANG, HAIDIAN = "110105", "110108"


def _form(template: str = "rainstorm-red", **changes: Any) -> list[tuple[str, str]]:
    chosen = load_alert_templates(CONFIG).get(template)
    assert chosen is not None
    values = form_of_template(chosen, utcnow()) | {"districts": [CHAOYANG, HAIDIAN]} | changes
    return [(name, item) for name, value in values.items()
            for item in (value if isinstance(value, list) else [value])]


async def _composed(staff: StaffClient, form: list[tuple[str, str]]) -> int:
    page = await staff.form_post("/staff/compose", "/staff/compose", form)
    assert page.status == 303, page.text
    assert page.location is not None
    return int(page.location.rsplit("/", 1)[1])


async def _submitted(staff: StaffClient, form: list[tuple[str, str]],
                     author: str = "author") -> int:
    await staff.as_user(author)
    alert_id = await _composed(staff, form)
    page = await staff.form_post(f"/staff/alerts/{alert_id}", f"/staff/alerts/{alert_id}/submit",
                                 {})
    assert page.status == 303
    assert staff.alert(alert_id).state == "submitted"
    return alert_id


async def _approve(staff: StaffClient, alert_id: int, typed: str = "") -> Any:
    return await staff.form_post(f"/staff/alerts/{alert_id}/approve",
                                 f"/staff/alerts/{alert_id}/approve", {"confirm_event": typed})


def _agency_submitted(staff: StaffClient, name: str, draft: dict[str, Any]) -> int:
    """An alert an agency submitted, with this content, as the intake leaves it queued."""
    with session_scope(staff.sessions) as session:
        account = User(username="agency:weather", password_hash="!", roles=[])
        session.add(account)
        session.flush()
        agency = Agency(code="weather", name=name, sender="bjmb@weather.bj.gov.cn",
                        credential_sha256="0" * 64, user_id=account.id)
        alert = Alert(state=AlertState.SUBMITTED, author_id=account.id, draft=draft,
                      status="Exercise", event="暴雨")
        session.add_all([agency, alert])
        session.flush()
        session.add(IntakeRecord(agency_id=agency.id, sender=agency.sender, identifier="1",
                                 sent=utcnow(), original_xml=b"<alert/>", alert_id=alert.id))
        return alert.id


async def test_the_queue_names_the_agency_an_alert_came_from(staff: StaffClient) -> None:
    own = await _submitted(staff, _form())
    submitted = _agency_submitted(staff, "北京市气象台", staff.alert(own).draft)
    await staff.as_user("approver")
    page = await staff.get("/staff/approvals")
    rows = {int(alert_id): agency for alert_id, agency in re.findall(
        r'<tr data-alert="(\d+)">.*?<td class="agency">([^<]*)</td>', page.text, re.S)}
    assert rows == {submitted: "北京市气象台", own: "本中心"}
    alert_page = await staff.get(f"/staff/alerts/{submitted}")
    assert '<strong class="agency">北京市气象台</strong>' in alert_page.text


async def test_compose_from_a_template_shows_the_draft_with_its_banner(
        staff: StaffClient) -> None:
    await staff.as_user("author")
    form = await staff.get("/staff/compose?template=air-raid-drill")
    assert form.status == 200
    assert 'value="Exercise" checked' in form.text
    assert 'data-banner="Exercise"' in form.text
    alert_id = await _composed(staff, _form("air-raid-drill"))
    alert = staff.alert(alert_id)
    assert (alert.state, alert.status, alert.event) == ("draft", "Exercise", "防空警报演练")
    infos = alert.draft["info"]
    assert [info["language"] for info in infos] == ["zh-CN", "en-US"]
    assert infos[0]["area"][0]["geocode"] == [{"valueName": "GB/T 2260", "value": CHAOYANG},
                                              {"valueName": "GB/T 2260", "value": HAIDIAN}]
    assert infos[0]["severity"] == "Minor"  # blue
    page = await staff.get(f"/staff/alerts/{alert_id}")
    assert 'data-banner="Exercise"' in page.text
    assert f"/staff/alerts/{alert_id}/submit" in page.text


@pytest.mark.parametrize(("changes", "field"), [
    ({"expires": "2020-01-01T08:00"}, "expires"),
    ({"event_zh": ""}, "event_zh"),
    ({"level": "purple"}, "level"),
    ({"polygon": "39.9,116.4 40.0"}, "polygon"),
    ({"districts": []}, "districts"),
])
async def test_an_invalid_form_shows_the_error_next_to_its_field(
        staff: StaffClient, changes: dict[str, Any], field: str) -> None:
    await staff.as_user("author")
    form = _form(**changes)
    if field == "districts":
        form += [("polygon", "39.95,116.45 40.00,116.52 39.93,116.58 39.95,116.45")]
        form = [(name, value) for name, value in form if name != "polygon" or value]
    page = await staff.form_post("/staff/compose", "/staff/compose", form)
    assert page.status == 400, page.text[:500]
    assert page.error_for(field), (field, page.text)
    assert staff.audited("compose") == 0


async def test_expires_before_effective_is_refused_at_expires(staff: StaffClient) -> None:
    await staff.as_user("author")
    start = utcnow() + timedelta(hours=8, minutes=30)  # Beijing time: UTC+8
    late, early = (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"), \
        start.strftime("%Y-%m-%dT%H:%M")
    page = await staff.form_post("/staff/compose", "/staff/compose",
                                 _form(effective=late, expires=early))
    assert page.status == 400
    assert "before effective" in (page.error_for("expires") or "")


async def test_the_author_cannot_approve_their_own_alert(staff: StaffClient) -> None:
    alert_id = await _submitted(staff, _form("air-raid-drill"), author="author_approver")
    review = await staff.get(f"/staff/alerts/{alert_id}/approve")
    assert 'data-field="approver"' in review.text
    page = await _approve(staff, alert_id)
    assert page.status == 403
    assert 'data-field="approver"' in page.text
    assert "author_approver wrote alert" in page.text
    assert staff.alert(alert_id).state == "submitted"


async def test_an_actual_alert_needs_its_event_typed(staff: StaffClient) -> None:
    alert_id = await _submitted(staff, _form(status=str(Status.ACTUAL)))
    await staff.as_user("approver")
    review = await staff.get(f"/staff/alerts/{alert_id}/approve")
    assert 'id="confirm_event"' in review.text
    assert 'data-banner=""' in review.text, "an Actual alert carries no Exercise banner"
    for typed in ("", "暴雪"):
        page = await _approve(staff, alert_id, typed)
        assert page.status == 400
        assert page.error_for("confirm_event")
        assert staff.alert(alert_id).state == "submitted"
    page = await _approve(staff, alert_id, " 暴雨 ")
    assert page.status == 303
    alert = staff.alert(alert_id)
    assert (alert.state, len(alert.messages)) == ("published", 1)


async def test_an_exercise_is_approved_without_typing(staff: StaffClient) -> None:
    alert_id = await _submitted(staff, _form("air-raid-drill"))
    await staff.as_user("approver")
    assert 'id="confirm_event"' not in (await staff.get(f"/staff/alerts/{alert_id}/approve")).text
    assert (await _approve(staff, alert_id)).status == 303
    assert staff.alert(alert_id).state == "published"


async def test_a_rejection_needs_a_reason(staff: StaffClient) -> None:
    alert_id = await _submitted(staff, _form())
    await staff.as_user("approver")
    path = f"/staff/alerts/{alert_id}/reject"
    page = await staff.form_post(f"/staff/alerts/{alert_id}/approve", path, {"reason": "  "})
    assert page.status == 400
    assert page.error_for("reason")
    assert staff.alert(alert_id).state == "submitted"
    page = await staff.form_post(f"/staff/alerts/{alert_id}/approve", path,
                                 {"reason": "wrong district"})
    assert page.status == 303
    alert = staff.alert(alert_id)
    assert (alert.state, alert.rejection_reason) == ("rejected", "wrong district")
    await staff.as_user("author")
    edit = await staff.get(f"/staff/alerts/{alert_id}/edit")
    assert edit.status == 200
    assert f'name="districts" value="{CHAOYANG}" checked' in edit.text
    assert 'name="districts" value="110101" checked' not in edit.text


async def test_update_shows_the_changes_then_publishes(staff: StaffClient) -> None:
    alert_id = await _submitted(staff, _form("air-raid-drill"))
    await staff.as_user("approver")
    assert (await _approve(staff, alert_id)).status == 303
    await staff.as_user("author_approver")
    form = _form("air-raid-drill", headline_en="The drill starts at ten")
    path = f"/staff/alerts/{alert_id}/update"
    review = await staff.form_post(path, path, [*form, ("do", "review")])
    assert review.status == 200
    assert 'data-field="headline_en"' in review.text
    assert "The drill starts at ten" in review.text
    published = await staff.post(path, [*form, ("do", "publish")], csrf=review.csrf())
    assert published.status == 303, published.text[:500]
    alert = staff.alert(alert_id)
    assert [message.msg_type for message in alert.messages] == ["Alert", "Update"]


async def test_cancel_lists_exactly_its_messages_and_needs_confirmation(
        staff: StaffClient) -> None:
    alert_id = await _submitted(staff, _form("air-raid-drill"))
    await staff.as_user("approver")
    assert (await _approve(staff, alert_id)).status == 303
    identifier = staff.alert(alert_id).messages[0].identifier
    page = await staff.get(f"/staff/alerts/{alert_id}")
    assert f'href="/staff/alerts/{alert_id}/cancel"' in page.text
    form = await staff.get(f"/staff/alerts/{alert_id}/cancel")
    assert f'data-identifier="{identifier}"' in form.text
    path = f"/staff/alerts/{alert_id}/cancel"
    refused = await staff.post(path, {"reason": "drill over", "reference": identifier},
                               csrf=form.csrf())
    assert refused.status == 400
    assert refused.error_for("confirm")
    cancelled = await staff.post(path, {"reason": "drill over", "reference": identifier,
                                        "confirm": "yes"}, csrf=form.csrf())
    assert cancelled.status == 303
    alert = staff.alert(alert_id)
    assert alert.state == "cancelled"
    assert alert.messages[-1].msg_type == "Cancel"
    assert identifier in (alert.messages[-1].references or "")
