"""The node's operator pages over HTTP: signing in, CSRF, the two-person rule, errors by field."""

from __future__ import annotations

from tests.district_nodes.node_support import FakeCenter, NodeProcess, eventually
from tests.district_nodes.operator_client import OperatorClient

AUTHOR = ("zhou.min", "correct horse battery")
APPROVER = ("wu.hao", "another long password")
INTO_HAIDIAN = "39.95,116.45\n40.00,116.52\n39.93,116.20\n39.95,116.45"


def _draft_fields(csrf: str, **changes: str) -> dict[str, str]:
    return {"csrf": csrf, "msg_type": "Alert", "event": "大风", "headline": "朝阳区大风蓝色预警",
            "severity": "Moderate", "urgency": "Expected", "certainty": "Likely",
            "category": "Met", "status": "Exercise", "language": "zh-CN",
            "expires_in_hours": "6", "area_desc": "朝阳区", "geocodes": "110105",
            "polygon": "", **changes}


def test_sign_in_gives_a_strict_cookie_and_a_form_without_its_token_is_refused(
        node: NodeProcess) -> None:
    node.add_user(*AUTHOR)
    node.start()
    browser = OperatorClient(node.url)
    assert browser.get("/ui/").headers["Location"].startswith("/ui/login")

    wrong = browser.sign_in(AUTHOR[0], "not the password")
    assert wrong.status == 401 and "用户名或密码不正确" in wrong.html
    signed_in = browser.sign_in(*AUTHOR)
    assert signed_in.status == 303 and signed_in.headers["Location"] == "/ui/"
    session_cookie = next(value for value in signed_in.headers.get_all("Set-Cookie", [])
                          if value.startswith("node_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie

    forged = browser.post("/ui/compose", _draft_fields("not-the-token"))
    assert forged.status == 403
    assert node.operator("GET", "/api/local/alerts", AUTHOR).body["alerts"] == []
    signed_out = browser.post("/ui/logout", {"csrf": browser.get("/ui/").csrf()})
    assert signed_out.status == 303
    assert browser.get("/ui/drafts").status == 303


def test_compose_shows_the_error_by_its_field_and_only_a_second_user_publishes(
        node: NodeProcess, center: FakeCenter) -> None:
    node.add_user(*AUTHOR)
    node.add_user(*APPROVER)
    node.start()
    author = OperatorClient(node.url)
    author.sign_in(*AUTHOR)
    csrf = author.get("/ui/compose?lang=en").csrf()

    outside = author.post("/ui/compose?lang=en",
                          _draft_fields(csrf, geocodes="", polygon=INTO_HAIDIAN))
    assert outside.status == 400
    [reason] = outside.text_of("//*[@id='polygon-error']")
    assert "110105" in reason
    assert outside.tree().xpath("//textarea[@id='polygon']/@aria-invalid") == ["true"]
    composed = author.post("/ui/compose?lang=en", _draft_fields(csrf))
    assert composed.status == 201
    [draft_id] = composed.tree().xpath("//*[@data-draft]/@data-draft")

    own = author.post(f"/ui/drafts/{draft_id}/approve?lang=en", {"csrf": csrf})
    assert own.status == 403
    assert any("author cannot approve" in text for text in own.text_of("//*[@role='alert']"))
    assert center.alerts == []

    approver = OperatorClient(node.url)
    approver.sign_in(*APPROVER)
    approved = approver.post(f"/ui/drafts/{draft_id}/approve",
                             {"csrf": approver.get("/ui/drafts").csrf()})
    assert approved.status == 200
    assert "已签名发布并上报市级平台" in approved.html
    [reported] = eventually(lambda: center.alerts, "the district alert at the center")
    [identifier] = approved.tree().xpath("//li/@data-identifier")
    assert identifier.encode() in reported
    held = approver.get("/ui/?lang=en")
    assert held.tree().xpath(f"//tr[@data-identifier='{identifier}']/td[@data-state]"
                             "/@data-state") == ["relayed"]
    assert "District" in held.text_of(f"//tr[@data-identifier='{identifier}']")[0]
