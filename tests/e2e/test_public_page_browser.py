"""The public page in headless Chromium: the cards render in Chinese and in English, without
JavaScript, and the cancelled state shows."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

from tests.integration.api_client import Api
from tests.integration.feed_support import Feed
from tests.integration.test_feeds_http import site_feed
from tests.services import center_settings, center_signer

__all__ = ["center_settings", "center_signer", "site_feed"]

pytestmark = pytest.mark.asyncio

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture
def chromium() -> str:
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    return CHROMIUM


async def _cards(page: Any) -> list[dict[str, str]]:
    return await page.eval_on_selector_all("article.card", """cards => cards.map(card => ({
        headline: card.querySelector('h2').innerText,
        area: card.querySelector('.area').innerText,
        colour: getComputedStyle(card.querySelector('.bar')).backgroundColor,
        state: [...card.querySelectorAll('[data-state]')].map(badge => badge.dataset.state)
            .join(','),
    }))""")


async def test_cards_render_in_both_languages(api: Api, site_feed: Feed, chromium: str) -> None:
    from playwright.async_api import async_playwright
    kept = site_feed.publish()
    cancelled = site_feed.publish()
    site_feed.cancel(cancelled.alert_id, "wrong district")
    base = str(api.client.make_url("/"))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(java_script_enabled=False, locale="en-US",
                                                viewport={"width": 375, "height": 740})
            page = await context.new_page()
            await page.goto(base, wait_until="load")
            english = await _cards(page)
            assert {card["headline"] for card in english} == {
                "Beijing Meteorological Observatory issues a red rainstorm warning"}
            assert {card["area"] for card in english} == {"Chaoyang District, Beijing"}
            assert sorted(card["state"] for card in english) == ["cancelled,exercise",
                                                                  "exercise"]
            assert "rgb(216, 30, 6)" in {card["colour"] for card in english}
            await page.click("nav a[hreflang='zh-CN']")
            chinese = await _cards(page)
            assert {card["headline"] for card in chinese} == {"北京市气象台发布暴雨红色预警信号"}
            assert await page.locator("[data-state='cancelled']").inner_text() == "已解除"
            await page.select_option("select#district", "110108")
            await page.click("form.filter button")
            assert await _cards(page) == []
            await page.goto(f"{base}alerts/{kept.alert_id}?lang=zh-CN", wait_until="load")
            assert "北京市朝阳区" in await page.inner_text("article.card")
        finally:
            await browser.close()
