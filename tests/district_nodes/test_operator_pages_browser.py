"""The node's operator pages in headless Chromium, JavaScript off: compose, then approve as
another user, in English."""

from __future__ import annotations

from playwright.sync_api import Page, sync_playwright

from tests.district_nodes.node_support import FakeCenter, NodeProcess, eventually
from tests.e2e.test_public_page_browser import CHROMIUM_ARGS, chromium

__all__ = ["chromium"]

AUTHOR = ("gao.yan", "correct horse battery")
APPROVER = ("ma.lin", "another long password")


def test_an_operator_composes_and_another_approves_in_the_browser(
        node: NodeProcess, center: FakeCenter, chromium: str) -> None:
    node.add_user(*AUTHOR)
    node.add_user(*APPROVER)
    node.start()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            def signed_in(user: tuple[str, str]) -> Page:
                page = browser.new_context(java_script_enabled=False,
                                           locale="en-US").new_page()
                page.goto(f"{node.url}/ui/?lang=en")
                page.fill("#username", user[0])
                page.fill("#password", user[1])
                page.click("button[type=submit]")
                return page

            author = signed_in(AUTHOR)
            author.click("text=Compose an alert")
            author.fill("#event", "Gale")
            author.fill("#headline", "Blue gale warning for Chaoyang")
            author.fill("#geocodes", "110105")
            author.fill("#area_desc", "Chaoyang")
            author.click("text=Submit for approval")
            assert "another district user approves it" in author.inner_text("[role=status]")

            approver = signed_in(APPROVER)
            approver.click("text=Drafts and published alerts")
            approver.click("text=Approve and publish")
            assert "Signed, published and reported" in approver.inner_text("[role=status]")
        finally:
            browser.close()
    [reported] = eventually(lambda: center.alerts, "the district alert at the center")
    assert b"Blue gale warning for Chaoyang" in reported
