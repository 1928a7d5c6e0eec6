"""The staff pages in headless Chromium, the whole story: the author composes an Actual red
rainstorm warning from a template, previews it and submits it; approving it themselves is
refused; the approver approves it with the event's name typed, sees it published, and
cancels it.

Each step's screenshot goes to the test's temporary directory (printed); with
``STAFF_SCREENSHOTS_DIR`` set, those of compose, preview and approval are copied there
(``docs/screenshots/`` is made this way).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from publisher.channels.memory import MemoryChannel
from tests.e2e.test_public_page_browser import CHROMIUM_ARGS, chromium
from tests.integration.fanout_support import add_targets, deliver_in_process
from tests.integration.staff_support import PASSWORD, StaffClient, staff

__all__ = ["chromium", "staff"]

pytestmark = pytest.mark.asyncio

SCREENSHOTS_VARIABLE = "STAFF_SCREENSHOTS_DIR"
DOCUMENTED_STEPS = ("compose", "preview", "approval", "dashboard")
CHAOYANG = "110105"
# Generous: the machine may be busy, and rendering the previews takes a while.
WAIT_MS = 60_000


class Story:
    def __init__(self, page: Any, base: str, shots: Path) -> None:
        self.page, self.base, self.shots = page, base.rstrip("/"), shots
        self.taken: list[Path] = []

    async def shot(self, step: str) -> None:
        path = self.shots / f"staff-{len(self.taken) + 1:02d}-{step}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)

    async def log_in(self, username: str) -> None:
        await self.page.goto(f"{self.base}/staff/login", wait_until="load")
        await self.page.fill("#username", username)
        await self.page.fill("#password", PASSWORD)
        await self.page.click("form.login button[type=submit]")
        await self.page.wait_for_selector("[data-user]", timeout=WAIT_MS)

    async def log_out(self) -> None:
        await self.page.click("form.logout button")
        await self.page.wait_for_selector("form.login", timeout=WAIT_MS)


async def test_compose_approve_and_cancel_in_the_browser(
        staff: StaffClient, chromium: str, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright
    print(f"\nscreenshots: {tmp_path}")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(locale="en-US",
                                                viewport={"width": 1280, "height": 900})
            context.set_default_timeout(WAIT_MS)
            story = Story(await context.new_page(), str(staff.client.make_url("/")), tmp_path)
            page = story.page

            await story.log_in("author_approver")
            await page.click("nav.sections a[href='/staff/compose']")
            await page.select_option("#template-choice", "rainstorm-red")
            await page.click("form.templates button")
            assert await page.input_value("#headline_en") == \
                "Beijing Meteorological Observatory issues a red rainstorm warning"
            assert await page.is_checked("input[name=status][value=Actual]")
            assert await page.is_hidden(".live-banner")
            await page.check("input[name=status][value=Exercise]")
            await page.wait_for_selector(".live-banner[data-banner=Exercise]")
            await page.check("input[name=status][value=Actual]")
            await page.wait_for_selector(".live-banner", state="hidden")
            await page.check(f"input[name=districts][value='{CHAOYANG}']")
            await page.wait_for_function(
                "document.querySelector('output.reach').textContent.includes('Chaoyang')")
            await page.fill("#description_en",
                            "More than 100 mm of rain is expected in Chaoyang within 3 hours.")
            await story.shot("compose")
            await page.click("button[name=do][value=save]")
            await page.wait_for_selector("[data-state=draft]")
            alert_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
            await page.wait_for_selector(".previews")
            await story.shot("preview")
            await page.click(f"form[action='/staff/alerts/{alert_id}/submit'] button")
            await page.wait_for_selector("[data-state=submitted]")

            await page.goto(f"{story.base}/staff/alerts/{alert_id}/approve", wait_until="load")
            assert await page.is_visible(".refusal[data-field=approver]")
            await page.click("form.approve button[type=submit]")
            await page.wait_for_selector(".refusal[data-field=approver]")
            assert "author_approver wrote alert" in await page.inner_text(".refusal")
            await story.shot("own-approval-refused")
            assert staff.alert(alert_id).state == "submitted"
            await story.log_out()

            await story.log_in("approver")
            await page.click("nav.sections a[href='/staff/approvals']")
            await page.click(f"a[href='/staff/alerts/{alert_id}/approve']")
            await page.wait_for_selector("#confirm_event")
            await page.fill("#confirm_event", "Rainstorm")
            await story.shot("approval")
            await page.click("form.approve button[type=submit]")
            await page.wait_for_selector("[data-state=published]")
            await story.shot("published")
            assert staff.alert(alert_id).state == "published"

            # The fan-out, as a worker runs it, to three memory targets in Chaoyang.
            with staff.sessions() as session:
                add_targets(session, 3, district_code=CHAOYANG)
            message_id = staff.alert(alert_id).messages[0].id
            await page.click(f"nav.sections a[href='/staff/alerts/{alert_id}/dashboard']")
            await page.wait_for_selector("[data-live]:not([hidden])", timeout=WAIT_MS)
            await asyncio.to_thread(deliver_in_process, staff.sessions, message_id,
                                    MemoryChannel())
            await page.wait_for_function(
                "selector => document.querySelector(selector)?.textContent === '100 %'",
                arg=f'[data-cell="{message_id}:memory:delivered_share"]', timeout=WAIT_MS)
            await story.shot("dashboard")
            await page.goto(f"{story.base}/staff/alerts/{alert_id}", wait_until="load")

            await page.click(f"a[href='/staff/alerts/{alert_id}/cancel']")
            identifier = staff.alert(alert_id).messages[0].identifier
            assert await page.inner_text("table.cancelled-messages tbody") == \
                await page.inner_text(f"tr[data-identifier='{identifier}']")
            await page.fill("#reason", "The rain has moved east.")
            await page.check("#confirm")
            await story.shot("cancel")
            await page.click("form.cancel button[type=submit]")
            await page.wait_for_selector("[data-state=cancelled]")
            await story.shot("cancelled")
            assert staff.alert(alert_id).state == "cancelled"
        finally:
            await browser.close()
    _publish_screenshots(story.taken)


def _publish_screenshots(taken: list[Path]) -> None:
    target = os.environ.get(SCREENSHOTS_VARIABLE)
    if not target:
        return
    Path(target).mkdir(parents=True, exist_ok=True)
    for path in taken:
        if any(path.stem.endswith(step) for step in DOCUMENTED_STEPS):
            shutil.copyfile(path, Path(target) / f"staff-{path.stem.rsplit('-', 1)[1]}.png")
