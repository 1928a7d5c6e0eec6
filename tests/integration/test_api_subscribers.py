"""The subscriber routes of the staff API: CSV import and one subscriber, for administrators."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from publisher.services.users import create_token
from publisher.store.db import session_scope
from publisher.store.models import AuditEntry, ContactPoint, Role, Subscriber, User, UserRole
from publisher.web.bodies import MAX_BODY_BYTES
from tests.integration.api_client import Api
from tests.integration.subscriber_support import sms_targets

pytestmark = pytest.mark.asyncio

CSV = "text/csv"
LIST = ("msisdn,district,language\n"
        "13800138000,朝阳|海淀,zh-CN\n"
        "+86 139 0013 9000,Tongzhou,en-US\n"
        "12345,朝阳,\n"
        "13700137000,朝阳|火星,\n")


@pytest.fixture
def admin_api(api: Api) -> Api:
    with session_scope(api.sessions) as session:
        session.add(User(username="admin", password_hash="no-login",
                         roles=[UserRole(role=Role.ADMIN)]))
        session.flush()
        api.tokens["admin"] = create_token(session, "admin", "tests")
    return api


def _stored(api: Api) -> dict[str, int]:
    with session_scope(api.sessions) as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                or 0 for model in (Subscriber, ContactPoint)}


async def _import(api: Api, body: bytes | str, *, user: str = "admin",
                  content_type: str = CSV) -> Any:
    return await api.call("POST", "/api/subscribers/import", user=user, data=body,
                          content_type=content_type)


async def test_an_administrator_imports_a_list_and_sees_every_refused_row(
        admin_api: Api) -> None:
    reply = await _import(admin_api, LIST)
    assert reply.status == 200, reply.body
    assert {key: reply.body[key] for key in ("created", "updated", "unchanged", "merged",
                                             "refused")} == {
        "created": 2, "updated": 0, "unchanged": 0, "merged": 0, "refused": 2}
    assert [(error["row"], error["column"]) for error in reply.body["errors"]] == [
        (4, "msisdn"), (5, "district")]
    assert reply.body["errors"][1]["reason"] == "unknown district '火星'"
    assert sms_targets(admin_api.sessions) == [
        ("+8613800138000", "110105|110108", "zh-CN", False, True),
        ("+8613900139000", "110112", "en-US", False, True)]
    with session_scope(admin_api.sessions) as session:
        entry = session.scalars(select(AuditEntry)).one()
        assert (entry.actor, entry.action, entry.detail["created"]) == (
            "admin", "import_subscribers", 2)


async def test_importing_the_same_list_again_accepts_nothing_twice(admin_api: Api) -> None:
    await _import(admin_api, LIST)
    stored, targets = _stored(admin_api), sms_targets(admin_api.sessions)
    again = await _import(admin_api, LIST.encode("utf-8-sig"))
    assert again.status == 200
    assert (again.body["created"], again.body["updated"], again.body["unchanged"]) == (0, 0, 2)
    assert (_stored(admin_api), sms_targets(admin_api.sessions)) == (stored, targets)


async def test_a_list_in_another_charset_is_read_in_it(admin_api: Api) -> None:
    text = "msisdn,district\n13800138000,朝阳区\n"
    reply = await _import(admin_api, text.encode("gb18030"),
                          content_type=f"{CSV}; charset=gb18030")
    assert (reply.status, reply.body["created"]) == (200, 1)
    unnamed = await _import(admin_api, text.encode("gb18030"))
    assert (unnamed.status, unnamed.body["field"]) == (400, "body")
    assert unnamed.body["reason"].startswith("not utf-8 at byte 28; name the file's charset")


@pytest.mark.parametrize("user", ["author", "approver", "viewer"])
async def test_only_an_administrator_imports(admin_api: Api, user: str) -> None:
    reply = await _import(admin_api, LIST, user=user)
    assert (reply.status, reply.body["error"], reply.body["field"]) == (403, "forbidden", "role")
    assert "admin role" in reply.body["reason"]
    assert _stored(admin_api) == {"subscribers": 0, "contact_points": 0}


async def test_an_import_without_a_token_is_refused(admin_api: Api) -> None:
    reply = await admin_api.call("POST", "/api/subscribers/import", data=LIST,
                                 content_type=CSV)
    assert (reply.status, reply.body["error"]) == (401, "unauthenticated")


async def test_an_import_must_be_csv(admin_api: Api) -> None:
    reply = await _import(admin_api, '{"msisdn": "13800138000"}',
                          content_type="application/json")
    assert (reply.status, reply.body["error"], reply.body["field"]) == (
        415, "unsupported_media_type", "Content-Type")


async def test_a_list_over_the_size_limit_is_refused_whole(admin_api: Api) -> None:
    row = "13800138000,朝阳\n"
    body = "msisdn,district\n" + row * (MAX_BODY_BYTES // len(row.encode()) + 1)
    reply = await _import(admin_api, body)
    assert (reply.status, reply.body["error"], reply.body["field"]) == (413, "too_large", "body")
    assert reply.body["reason"].startswith(f"the CSV is larger than {MAX_BODY_BYTES} bytes")
    assert _stored(admin_api) == {"subscribers": 0, "contact_points": 0}


@pytest.mark.parametrize("written", ["+8613800138000", "%2B8613800138000", "13800138000",
                                     "008613800138000"])
async def test_an_administrator_reads_a_subscriber_by_number(admin_api: Api,
                                                             written: str) -> None:
    await _import(admin_api, LIST)
    reply = await admin_api.call("GET", f"/api/subscribers/{written}", user="admin")
    assert reply.status == 200, reply.body
    body = reply.body
    assert body["contact_points"] == [{"kind": "msisdn", "value": "+8613800138000"}]
    assert body["districts"] == [
        {"code": "110105", "name_zh": "朝阳区", "name_en": "Chaoyang"},
        {"code": "110108", "name_zh": "海淀区", "name_en": "Haidian"}]
    assert (body["language"], body["active"], body["is_test"]) == ("zh-CN", True, False)
    assert body["subscribed_at"] is not None and body["unsubscribed_at"] is None


@pytest.mark.parametrize(("user", "number", "status", "field"), [
    ("admin", "13600136000", 404, "msisdn"),
    ("admin", "12345", 400, "msisdn"),
    ("approver", "13800138000", 403, "role"),
])
async def test_reading_a_subscriber_is_refused_with_the_reason(
        admin_api: Api, user: str, number: str, status: int, field: str) -> None:
    await _import(admin_api, LIST)
    reply = await admin_api.call("GET", f"/api/subscribers/{number}", user=user)
    assert (reply.status, reply.body["field"]) == (status, field)
