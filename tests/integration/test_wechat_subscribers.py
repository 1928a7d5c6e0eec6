"""WeChat subscribers: managed one at a time over the API (one model, several contact points),
and openids retired when the API says the user has unsubscribed (43004)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.services.subscribers import (
    CHANNEL_OF_CONTACT,
    find_subscriber,
    new_subscriber,
    retire_targets,
    update_subscriber,
)
from publisher.store.models import AuditEntry, ContactKind, Target
from tests.integration.api_client import Api
from tests.integration.fanout_support import session_factory
from tests.integration.test_api_subscribers import admin_api
from tests.services import postgres_url

__all__ = ["admin_api", "postgres_url", "session_factory"]

OPENID = "oWx3Kj9mQ2v7ZpL0aBcDeFgHiJkL"
WECHAT = f"/api/subscribers/wechat_openid/{OPENID}"


def _targets(sessions: sessionmaker[Session]) -> dict[tuple[str, str], tuple[str, bool]]:
    """(channel, address) -> (language, active) of every subscriber's target."""
    with sessions() as session:
        return {(target.channel, target.address): (target.language, target.active)
                for target in session.scalars(select(Target).where(
                    Target.channel.in_(CHANNEL_OF_CONTACT.values())))}


async def _add(api: Api, **fields: Any) -> Any:
    body = {"contact_points": [{"kind": "wechat_openid", "value": OPENID}],
            "districts": ["朝阳", "110108"], "language": "en-US", **fields}
    return await api.call("POST", "/api/subscribers", user="admin", json_body=body)


@pytest.mark.asyncio
async def test_an_administrator_adds_reads_changes_and_removes_a_wechat_subscriber(
        admin_api: Api) -> None:
    added = await _add(admin_api)
    assert added.status == 201, added.body
    assert added.headers["Location"] == WECHAT
    assert added.body["contact_points"] == [{"kind": "wechat_openid", "value": OPENID}]
    assert [district["code"] for district in added.body["districts"]] == ["110105", "110108"]
    assert _targets(admin_api.sessions) == {("wechat", OPENID): ("en-US", True)}

    changed = await admin_api.call("PATCH", WECHAT, user="admin", json_body={
        "districts": ["Haidian"], "language": "zh-CN"})
    assert changed.status == 200, changed.body
    assert [district["code"] for district in changed.body["districts"]] == ["110108"]
    with_number = await admin_api.call("POST", f"{WECHAT}/contact-points", user="admin",
                                       json_body={"kind": "msisdn", "value": "13800138000"})
    assert with_number.status == 200, with_number.body
    assert _targets(admin_api.sessions) == {("wechat", OPENID): ("zh-CN", True),
                                            ("sms", "+8613800138000"): ("zh-CN", True)}
    by_number = await admin_api.call("GET", "/api/subscribers/msisdn/13800138000",
                                     user="admin")
    assert by_number.body == (await admin_api.call("GET", WECHAT, user="admin")).body

    removed = await admin_api.call("DELETE", WECHAT, user="admin")
    assert removed.status == 200, removed.body
    assert removed.body["contact_points"] == [{"kind": "msisdn", "value": "+8613800138000"}]
    assert removed.body["active"] is True
    assert _targets(admin_api.sessions) == {("wechat", OPENID): ("zh-CN", False),
                                            ("sms", "+8613800138000"): ("zh-CN", True)}
    assert (await admin_api.call("GET", WECHAT, user="admin")).status == 404
    with admin_api.sessions() as session:
        actions = [entry.action for entry in session.scalars(select(AuditEntry))]
    assert actions == ["add_subscriber", "change_subscriber", "add_contact_point",
                       "remove_contact_point"]


@pytest.mark.asyncio
async def test_removing_the_only_openid_unsubscribes(admin_api: Api) -> None:
    await _add(admin_api)
    removed = await admin_api.call("DELETE", WECHAT, user="admin")
    assert removed.body["active"] is False and removed.body["contact_points"] == []
    assert _targets(admin_api.sessions) == {("wechat", OPENID): ("en-US", False)}


@pytest.mark.asyncio
@pytest.mark.parametrize(("fields", "status", "field"), [
    ({"districts": ["火星"]}, 400, "districts"),
    ({"districts": []}, 400, "districts"),
    ({"language": "fr-FR"}, 400, "language"),
    ({"contact_points": [{"kind": "qq", "value": "1"}]}, 400, "kind"),
    ({"contact_points": [{"kind": "wechat_openid", "value": "o" * 129}]}, 400,
     "contact_points[0].value"),
    ({"nickname": "x"}, 400, "nickname"),
])
async def test_a_refused_subscriber_names_the_field(admin_api: Api, fields: dict[str, Any],
                                                    status: int, field: str) -> None:
    refused = await _add(admin_api, **fields)
    assert (refused.status, refused.body["field"]) == (status, field), refused.body
    assert _targets(admin_api.sessions) == {}


@pytest.mark.asyncio
async def test_an_openid_reaches_one_subscriber_only_and_only_admins_manage_them(
        admin_api: Api) -> None:
    await _add(admin_api)
    again = await _add(admin_api)
    assert (again.status, again.body["field"]) == (409, "contact_points[0].value")
    forbidden = await admin_api.call("GET", WECHAT, user="author")
    assert (forbidden.status, forbidden.body["field"]) == (403, "role")
    assert (await admin_api.call("GET", WECHAT)).status == 401


@pytest.mark.asyncio
async def test_a_contact_point_taken_by_another_subscriber_is_refused_on_value(
        admin_api: Api) -> None:
    await _add(admin_api)
    other = await admin_api.call("POST", "/api/subscribers", user="admin", json_body={
        "contact_points": [{"kind": "msisdn", "value": "13800138000"}], "districts": ["朝阳"]})
    assert other.status == 201, other.body
    before = _targets(admin_api.sessions)

    taken = await admin_api.call("POST", "/api/subscribers/msisdn/13800138000/contact-points",
                                 user="admin", json_body={"kind": "wechat_openid",
                                                          "value": OPENID})
    assert (taken.status, taken.body["field"]) == (409, "value"), taken.body
    assert OPENID in taken.body["reason"]
    empty = await admin_api.call("POST", f"{WECHAT}/contact-points", user="admin",
                                 json_body={"kind": "msisdn", "value": " "})
    assert (empty.status, empty.body["field"]) == (400, "value"), empty.body
    assert _targets(admin_api.sessions) == before
    # Its own contact point again is no conflict: nothing to add.
    again = await admin_api.call("POST", f"{WECHAT}/contact-points", user="admin",
                                 json_body={"kind": "wechat_openid", "value": OPENID})
    assert again.status == 200, again.body
    assert again.body["contact_points"] == [{"kind": "wechat_openid", "value": OPENID}]


def test_openids_the_api_answered_43004_for_are_retired(
        session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        only_wechat = new_subscriber(session)
        update_subscriber(session, only_wechat, district_codes=["110105"],
                          contact_points=[(ContactKind.WECHAT_OPENID, "oGone")])
        both = new_subscriber(session)
        update_subscriber(session, both, district_codes=["110105"], contact_points=[
            (ContactKind.MSISDN, "+8613900139000"), (ContactKind.WECHAT_OPENID, "oAlsoGone")])
        session.commit()
        wechat_targets = list(session.scalars(select(Target.id).where(
            Target.channel == "wechat")))
        assert retire_targets(session, wechat_targets) == 2
        assert retire_targets(session, wechat_targets) == 0
        session.commit()
    with session_factory() as session:
        assert find_subscriber(session, ContactKind.WECHAT_OPENID, "oGone") is None
        assert find_subscriber(session, ContactKind.WECHAT_OPENID, "oAlsoGone") is None
        kept = find_subscriber(session, ContactKind.MSISDN, "+8613900139000")
        assert kept is not None and kept.active
        gone = session.get(type(only_wechat), only_wechat.id)
        assert gone is not None and not gone.active and gone.unsubscribed_at is not None
        assert {(target.address, target.active) for target in session.scalars(
            select(Target).where(Target.channel.in_(CHANNEL_OF_CONTACT.values())))} \
            == {("oGone", False), ("oAlsoGone", False), ("+8613900139000", True)}
