"""What the API refuses, with which status and field, and that a refusal stores nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from publisher.cap.model import MsgType, Reference
from publisher.cap.references import format_references
from publisher.cap.writer import write_alert
from publisher.sample_alert import rainstorm_red_warning
from publisher.web.bodies import MAX_BODY_BYTES
from tests.integration.api_client import Api
from tests.integration.lifecycle_support import content

pytestmark = pytest.mark.asyncio

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol2;</identifier></alert>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><note>&secret;</note></alert>"""


async def _refused_and_nothing_stored(api: Api, expected_status: int, method: str, path: str,
                                      **request: object) -> dict[str, object]:
    before = api.stored()
    reply = await api.call(method, path, **request)  # type: ignore[arg-type]
    assert reply.status == expected_status, reply.body
    assert set(reply.body) == {"error", "field", "reason"}
    assert api.stored() == before
    return reply.body


@pytest.mark.parametrize(("body", "where"), [
    (b'{"status": "Exercise",', "line 1 column 23 (character 22)"),
    (b'{"status": "Exercise"\n "scope": "Public"}', "line 2 column 2 (character 23)"),
    (b'{"headline": "\xff"}', "not UTF-8 at byte 14"),
])
async def test_malformed_json_names_the_position(api: Api, body: bytes, where: str) -> None:
    refused = await _refused_and_nothing_stored(
        api, 400, "POST", "/api/alerts", user="author", data=body,
        content_type="application/json")
    assert refused["field"] == "body"
    assert where in str(refused["reason"])


async def test_json_that_is_not_an_object(api: Api) -> None:
    refused = await _refused_and_nothing_stored(
        api, 400, "POST", "/api/alerts", user="author", data=b"[1, 2]",
        content_type="application/json")
    assert refused["reason"] == "expected a JSON object, got an array"


async def test_invalid_alert_content_names_the_field(api: Api) -> None:
    payload = content()
    payload["info"][0]["severity"] = "Apocalyptic"
    refused = await _refused_and_nothing_stored(api, 400, "POST", "/api/alerts",
                                                user="author", json_body=payload)
    assert refused["error"] == "invalid"
    assert "severity" in str(refused["field"])


@pytest.mark.parametrize(("document", "says"), [
    (b"<alert><identifier>broken", "document"),
    (b"not xml at all", "document"),
    (BILLION_LAUGHS, "DOCTYPE"),
    (EXTERNAL_ENTITY, "DOCTYPE"),
])
async def test_malformed_and_hostile_xml(api: Api, document: bytes, says: str) -> None:
    refused = await _refused_and_nothing_stored(
        api, 400, "POST", "/api/alerts", user="author", data=document,
        content_type="application/cap+xml")
    assert says in f"{refused['field']} {refused['reason']}"


async def test_an_imported_cancel_never_becomes_an_alert(api: Api) -> None:
    cap_alert = rainstorm_red_warning(datetime.now(UTC))
    cancel = replace(cap_alert, msg_type=MsgType.CANCEL, references=format_references(
        [Reference(cap_alert.sender, cap_alert.identifier, cap_alert.sent)]))
    refused = await _refused_and_nothing_stored(
        api, 400, "POST", "/api/alerts", user="author", data=write_alert(cancel),
        content_type="application/cap+xml")
    assert refused["field"] == "msgType"


@pytest.mark.parametrize("content_type", ["application/json", "application/cap+xml"])
async def test_a_body_over_one_mebibyte_is_413(api: Api, content_type: str) -> None:
    refused = await _refused_and_nothing_stored(
        api, 413, "POST", "/api/alerts", user="author", data=b" " * (MAX_BODY_BYTES + 1),
        content_type=content_type)
    assert (refused["error"], refused["field"]) == ("too_large", "body")


async def test_an_unknown_media_type_is_415(api: Api) -> None:
    refused = await _refused_and_nothing_stored(
        api, 415, "POST", "/api/alerts", user="author", data=b"status=Exercise",
        content_type="application/x-www-form-urlencoded")
    assert refused["field"] == "Content-Type"


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "Basic YWxpY2U6c2VjcmV0", "Bearer pat_unknown",
    "Bearer not-even-a-token",
])
async def test_missing_or_invalid_token_is_401(api: Api, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    before = api.stored()
    for method, path in (("GET", "/api/alerts"), ("POST", "/api/alerts")):
        reply = await api.call(method, path, headers=headers, json_body=content())
        assert reply.status == 401, (authorization, reply.body)
        assert reply.body["error"] == "unauthenticated"
        assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert api.stored() == before


async def test_wrong_role_is_403(api: Api) -> None:
    await _refused_and_nothing_stored(api, 403, "POST", "/api/alerts", user="viewer",
                                      json_body=content())
    alert_id = await api.submitted(content())
    for user, action in (("author", "approve"), ("viewer", "approve"), ("author", "reject"),
                         ("approver", "submit")):
        body = {"reason": "no"} if action == "reject" else None
        before = api.stored()
        reply = await api.call("POST", f"/api/alerts/{alert_id}/{action}", user=user,
                               json_body=body)
        assert reply.status == 403, (user, action, reply.body)
        assert api.stored() == before


async def test_self_approval_is_403(api: Api) -> None:
    alert_id = await api.submitted(content(), user="author_approver")
    refused = await _refused_and_nothing_stored(
        api, 403, "POST", f"/api/alerts/{alert_id}/approve", user="author_approver")
    assert refused["error"] == "forbidden"
    shown = await api.call("GET", f"/api/alerts/{alert_id}", user="viewer")
    assert shown.body["state"] == "submitted"


async def test_ambiguous_cancel_is_409(api: Api) -> None:
    alert_id = await api.published(content())
    other_id = await api.published(content())
    own = (await api.call("GET", f"/api/alerts/{alert_id}", user="viewer")).body["messages"]
    other = (await api.call("GET", f"/api/alerts/{other_id}", user="viewer")).body["messages"]

    def reference(message: dict[str, str]) -> str:
        return f"{message['sender']},{message['identifier']},{message['sent']}"

    for references in ([reference(other[0])],
                       [reference(own[0]), reference(other[0])],
                       ["warning-center@beijing.gov.cn,110000-YJZX-20000101000000-0001,"
                        "2000-01-01T00:00:00+08:00"]):
        refused = await _refused_and_nothing_stored(
            api, 409, "POST", f"/api/alerts/{alert_id}/cancel", user="approver",
            json_body={"reason": "wrong alert", "references": references})
        assert refused["error"] == "conflict"
    not_a_list = await _refused_and_nothing_stored(
        api, 400, "POST", f"/api/alerts/{alert_id}/cancel", user="approver",
        json_body={"reason": "wrong alert", "references": reference(own[0])})
    assert not_a_list["field"] == "references"
    exact = await api.call("POST", f"/api/alerts/{alert_id}/cancel", user="approver",
                           json_body={"reason": "wrong alert", "references": [reference(own[0])]})
    assert exact.status == 200, exact.body


async def test_unknown_things_are_404_and_wrong_methods_405(api: Api) -> None:
    for path in ("/api/alerts/999", "/api/nothing-here", "/alerts/999.cap", "/nowhere"):
        reply = await api.call("GET", path, user="viewer")
        assert (reply.status, reply.body["error"]) == (404, "not_found"), path
    for user, action in (("author", "submit"), ("approver", "approve")):
        reply = await api.call("POST", f"/api/alerts/999/{action}", user=user)
        assert reply.status == 404, reply.body
    wrong = await api.call("DELETE", "/api/alerts", user="viewer")
    assert (wrong.status, wrong.body["error"]) == (405, "method_not_allowed")
    assert "POST" in wrong.headers["Allow"]
