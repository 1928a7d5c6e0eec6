"""The public page and the timeline: cards of the alerts in force, in both languages."""

from __future__ import annotations

import json

import pytest

from tests.integration.api_client import Api
from tests.integration.feed_support import Feed
from tests.integration.test_feeds_http import _get, site_feed
from tests.services import center_settings, center_signer

__all__ = ["center_settings", "center_signer", "site_feed"]

pytestmark = pytest.mark.asyncio


async def test_the_page_shows_cards_in_the_language_asked(api: Api, site_feed: Feed) -> None:
    message = site_feed.publish()
    status, body, headers = await _get(api, "/", **{"Accept-Language": "en-GB,en;q=0.9"})
    page = body.decode()
    assert status == 200 and headers["Content-Language"] == "en-US"
    assert "Beijing Meteorological Observatory issues a red rainstorm warning" in page
    assert 'class="card level-red"' in page
    assert "Chaoyang District, Beijing" in page
    assert f'href="/alerts/{message.alert_id}.cap"' in page
    assert 'href="/feeds/alerts.atom?lang=en-US"' in page
    _, body, headers = await _get(api, "/?lang=zh-CN", **{"Accept-Language": "en"})
    assert "北京市气象台发布暴雨红色预警信号" in body.decode()
    assert headers["Content-Language"] == "zh-CN"
    _, body, _ = await _get(api, "/?district=110108")
    assert "暴雨红色预警" not in body.decode()


async def test_a_cancelled_alert_shows_cancelled(api: Api, site_feed: Feed) -> None:
    message = site_feed.publish()
    site_feed.cancel(message.alert_id, "wrong district")
    _, body, _ = await _get(api, f"/alerts/{message.alert_id}?lang=en-US")
    page = body.decode()
    assert 'data-state="cancelled"' in page and "wrong district" in page
    _, body, _ = await _get(api, "/")
    assert "已解除" in body.decode()
    assert (await _get(api, "/alerts/999999"))[0] == 404


async def test_the_timeline_is_public_and_cursor_paged(api: Api, site_feed: Feed) -> None:
    published = [site_feed.publish().alert_id for _ in range(3)]
    status, body, _ = await _get(api, "/api/timeline?limit=2&lang=en-US")
    assert status == 200, body
    first = json.loads(body)
    assert len(first["cards"]) == 2 and first["next"]
    card = first["cards"][0]
    assert card["level"] == "red" and card["language"] == "en-US"
    assert card["cap_url"] == f"/alerts/{card['id']}.cap"
    assert card["instruction"].startswith("Stop gatherings")
    second = json.loads((await _get(api, f"/api/timeline?limit=2&after={first['next']}"))[1])
    assert len(second["cards"]) == 1 and second["next"] is None
    assert sorted(card["id"] for card in first["cards"] + second["cards"]) == published
    assert (await _get(api, "/api/timeline?after=nonsense"))[0] == 400
    chaoyang = json.loads((await _get(api, "/api/timeline?district=Haidian"))[1])
    assert chaoyang["cards"] == []
