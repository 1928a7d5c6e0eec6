"""The delivery dashboard in headless Chromium: a viewer logs in through the login page and
watches the counts and the chart reach delivered on the memory channel, live."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from publisher.channels.memory import MemoryChannel
from publisher.services.delivery import fan_out, send_batch
from tests.e2e.test_public_page_browser import CHROMIUM_ARGS, chromium
from tests.integration.fanout_support import add_targets, publish
from tests.integration.staff_support import PASSWORD, StaffClient, staff

__all__ = ["chromium", "staff"]

pytestmark = pytest.mark.asyncio

TARGETS = 3
WAIT_MILLISECONDS = 60_000


def _planned(client: StaffClient) -> tuple[int, int, list[int]]:
    """A published Exercise whose memory deliveries wait in the queue: (alert, message, batch)."""
    with client.sessions() as session:
        add_targets(session, TARGETS, is_test=True)
        message = publish(session)
    batches: list[list[int]] = []
    fan_out(client.sessions, message.id, 1000, lambda _channel, ids: batches.append(ids),
            channels=("memory",))
    return message.alert_id, message.id, [delivery for batch in batches for delivery in batch]


async def test_the_dashboard_reaches_delivered_live(staff: StaffClient, chromium: str,
                                                     tmp_path: Path) -> None:
    from playwright.async_api import async_playwright
    alert_id, message_id, batch = _planned(staff)
    base = str(staff.client.make_url("/")).rstrip("/")
    cell = f'[data-cell="{message_id}:memory:%s"]'
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(locale="en-US", viewport={
                "width": 1280, "height": 900})).new_page()
            await page.goto(f"{base}/staff/alerts/{alert_id}/dashboard", wait_until="load")
            await page.fill("#username", "viewer")
            await page.fill("#password", PASSWORD)
            await page.click("form.login button[type=submit]")
            await page.wait_for_url(f"**/staff/alerts/{alert_id}/dashboard")
            assert await page.inner_text(cell % "queued") == str(TARGETS)
            await page.wait_for_selector("[data-live]:not([hidden])", timeout=WAIT_MILLISECONDS)
            await page.screenshot(path=str(tmp_path / "dashboard-queued.png"), full_page=True)

            await asyncio.to_thread(send_batch, staff.sessions, MemoryChannel(), batch)
            await page.wait_for_function(
                "selector => document.querySelector(selector).textContent === '100 %'",
                arg=cell % "delivered_share", timeout=WAIT_MILLISECONDS)
            assert await page.inner_text(cell % "delivered") == str(TARGETS)
            assert await page.inner_text(cell % "queued") == "0"
            # The chart was fetched again: its memory line ends at 100 %.
            await page.wait_for_function(
                "() => [...document.querySelectorAll('figure.chart svg text')]"
                ".some(text => text.textContent === 'memory 100%')", timeout=WAIT_MILLISECONDS)
            await page.screenshot(path=str(tmp_path / "dashboard-delivered.png"), full_page=True)
        finally:
            await browser.close()
