"""``publisher demo`` with the public channels: the SMS walk-through's alert on the Atom and RSS
feeds, on the public page in both languages and by WeChat to each follower, then its Cancel.

One demo process for the module (its start is slow), with the feed and WeChat
configured. The feeds and pages are read over HTTP as an aggregator and a
reader read them, the WeChat messages from the simulator's log
(``/sim/messages``), the deliveries and their receipts over the REST API with
the demo's tokens. The Cancel is made by the API, as the demo approver makes
it from the line the demo prints.
"""

from __future__ import annotations

import re
import signal
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from lxml import etree, html

from publisher.cap.model import Alert
from publisher.cap.reader import read_alert
from publisher.cap.xmlsafe import parse_untrusted_xml
from publisher.channels.base import DeliveryStatus
from publisher.channels.wechat_template import render_template_data
from publisher.demo_walkthrough import CANCEL_REASON
from publisher.demo_wechat import DEMO_FOLLOWERS
from tests.e2e.demo_support import (
    STOP_SECONDS,
    Demo,
    api,
    deliveries,
    eventually,
    get_json,
    running_demo,
)

LANGUAGES = {follower.openid: follower.language for follower in DEMO_FOLLOWERS}
NAMESPACES = {"atom": "http://www.w3.org/2005/Atom"}
MSG_TYPE = "urn:oasis:names:tc:emergency:cap:1.2#msgType"
TEMPLATE_ID = "ALERT-TEMPLATE-1"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with running_demo(tmp_path_factory.mktemp("demo"), public=True) as running:
        yield running


def _fetch(url: str, **headers: str) -> bytes:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        body: bytes = response.read()
    return body


def _alert_id(demo: Demo) -> int:
    line = demo.line("Public walk-through: alert")
    return int(re.search(r"alert (\d+) ", line).group(1))  # type: ignore[union-attr]


def _cap(url: str, alert_id: int) -> Alert:
    alert = read_alert(_fetch(f"{url}/alerts/{alert_id}.cap")).alert
    assert alert is not None
    return alert


def _simulator(demo: Demo) -> str:
    match = re.search(r"curl -s (http://[^/]+)/sim/messages", demo.line("WeChat:"))
    assert match, demo.line("WeChat:")
    return match.group(1)


def _final(demo: Demo, alert_id: int, channel: str, message_id: int) -> list[dict[str, Any]]:
    items = [item for item in deliveries(demo, alert_id, channel)
             if item["message_id"] == message_id]
    return items if items and all(DeliveryStatus(item["status"]).is_final
                                  for item in items) else []


def _atom_entries(url: str, alert_id: int, query: str = "") -> list[etree._Element]:
    feed = parse_untrusted_xml(_fetch(f"{url}/feeds/alerts.atom{query}"))
    return [entry for entry in feed.iterfind("atom:entry", NAMESPACES)
            if entry.findtext("atom:id", namespaces=NAMESPACES) == f"{url}/alerts/{alert_id}"]


def _rss_items(url: str, alert_id: int) -> list[etree._Element]:
    feed = parse_untrusted_xml(_fetch(f"{url}/feeds/alerts.rss"))
    return [item for item in feed.iterfind("channel/item")
            if item.findtext("guid") == f"{url}/alerts/{alert_id}"]


def _found(element: etree._Element, path: str, **variables: str) -> list[Any]:
    """What an XPath finds, as a list (lxml types every result of ``xpath`` as possible)."""
    found = etree.XPath(path, namespaces=NAMESPACES)(element, **variables)
    assert isinstance(found, list), found
    return found


def _atom_msg_type(entry: etree._Element) -> str:
    [category] = _found(entry, "atom:category[@scheme=$scheme]/@term", scheme=MSG_TYPE)
    return str(category)


def _check_feeds(url: str, alert_id: int, alert: Alert, msg_type: str, title: str) -> None:
    """One entry for the alert in each feed, with its title, type and CAP link (no duplicate)."""
    [entry] = _atom_entries(url, alert_id)
    assert entry.findtext("atom:title", namespaces=NAMESPACES) == title
    assert _atom_msg_type(entry) == msg_type
    [cap_link] = _found(entry, "atom:link[@type='application/cap+xml']/@href")
    assert cap_link == f"{url}/alerts/{alert_id}.cap"
    assert read_alert(_fetch(str(cap_link))).alert == alert
    [item] = _rss_items(url, alert_id)
    assert item.findtext("title") == title and item.findtext("link") == cap_link
    assert _found(item, "category[@domain=$scheme]/text()", scheme=MSG_TYPE) == [msg_type]


def _card(url: str, path: str, alert_id: int, **headers: str) -> html.HtmlElement | None:
    page = html.fromstring(_fetch(f"{url}{path}", **headers))
    cards = _found(page, "//article[@data-alert-id=$id]", id=str(alert_id))
    assert len(cards) <= 1
    return cards[0] if cards else None


def _check_pages(url: str, alert_id: int, alert: Alert, *, cancelled: bool) -> None:
    """The list and the alert's page show its card in each language, asked both ways."""
    for language in ("zh-CN", "en-US"):
        headline = alert.info_for(language).headline  # type: ignore[union-attr]
        for path in ("/", f"/alerts/{alert_id}"):
            for asked in ({"path": f"{path}?lang={language}"},
                          {"path": path, "Accept-Language": f"{language},en;q=0.5"}):
                card = _card(url, asked.pop("path"), alert_id, **asked)
                assert card is not None, (path, language)
                assert card.get("lang") == language
                assert card.find(".//h2").text_content().strip() == headline
                assert bool(card.xpath(".//*[@data-state='cancelled']")) is cancelled
                assert card.xpath(".//*[@data-state='exercise']")


def _check_wechat(demo: Demo, rows: list[dict[str, Any]], alert: Alert) -> None:
    """One template message per follower, as the channel renders it; receipts correlated."""
    taken = get_json(f"{_simulator(demo)}/sim/messages")
    assert sorted(item["address"] for item in rows) == sorted(LANGUAGES)
    for item in rows:
        [message] = [message for message in taken
                     if message["client_msg_id"] == f"delivery-{item['id']}"]
        assert message["openid"] == item["address"] and message["template_id"] == TEMPLATE_ID
        expected = render_template_data(alert, LANGUAGES[item["address"]])
        assert message["data"] == {name: dict(value) for name, value in expected.data.items()}
        assert item["provider_id"] == str(message["msgid"])
        said = "delivered" if message["status"] == "success" else "failed"
        assert item["status"] == said, (item, message)
        if said == "failed":
            assert message["status"].removeprefix("failed:").strip() in item["last_error"]
        assert item["receipts"]["count"] == 1 and item["receipts"]["last_status"] == said


def _statuses(rows: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for item in rows:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    return ", ".join(f"{number} {status}" for status, number in sorted(counts.items()))


def _check_wechat_line(line: str, label: str, rows: list[dict[str, Any]]) -> None:
    followers = len(LANGUAGES)
    assert re.fullmatch(
        rf"WeChat {label}: {followers} followers, {followers} template messages in the"
        rf" simulator \(one each\); deliveries {_statuses(rows)}"
        r"( \(send-job events [^)]+\))?;"
        rf" {followers} of {followers} as their send-job events said, {followers} receipts",
        line), line


def test_the_alert_is_on_both_feeds_the_page_in_both_languages_and_each_follower_got_it_once(
        demo: Demo) -> None:
    alert_id = _alert_id(demo)
    url = demo.exported()["URL"]
    alert = _cap(url, alert_id)
    feed_line = demo.line("Public reconciliation")
    assert re.fullmatch(r"Public reconciliation: Atom entry in force, RSS item in force; cards"
                        r" on the list and the alert's page: zh-CN in force, en-US in force;"
                        r" feed delivery delivered \(feed-v\d+\)", feed_line), \
        (feed_line, deliveries(demo, alert_id, "feed"))

    zh_headline = alert.info_for("zh-CN").headline  # type: ignore[union-attr]
    _check_feeds(url, alert_id, alert, "Alert", str(zh_headline))
    [english] = _atom_entries(url, alert_id, "?lang=en-US")
    assert english.findtext("atom:title", namespaces=NAMESPACES) == \
        alert.info_for("en-US").headline  # type: ignore[union-attr]
    _check_pages(url, alert_id, alert, cancelled=False)

    [feed] = _final(demo, alert_id, "feed", _message_id(demo, alert_id, "Alert"))
    assert feed["status"] == "delivered" and feed["address"] == "public"
    assert feed_line.endswith(f"({feed['provider_id']})")
    wechat = eventually(
        lambda: _final(demo, alert_id, "wechat", _message_id(demo, alert_id, "Alert")),
        "the WeChat deliveries are final")
    _check_wechat(demo, wechat, alert)
    _check_wechat_line(demo.line("WeChat reconciliation"), "reconciliation", wechat)


def _message_id(demo: Demo, alert_id: int, msg_type: str) -> int:
    exported = demo.exported()
    summary = api(exported["URL"], exported["APPROVER_TOKEN"], "GET",
                  f"/api/alerts/{alert_id}/deliveries")
    [message] = [message for message in summary["messages"] if message["msg_type"] == msg_type]
    return int(message["message_id"])


def test_a_cancel_marks_the_entry_cancelled_on_the_feeds_and_the_page(demo: Demo) -> None:
    alert_id = _alert_id(demo)
    demo.line("Ctrl-C stops everything.")
    exported = demo.exported()
    url = exported["URL"]
    cancelled = api(url, exported["APPROVER_TOKEN"], "POST", f"/api/alerts/{alert_id}/cancel",
                    {"reason": CANCEL_REASON})
    cancel_id = int(cancelled["message"]["id"])
    line = demo.line("Public cancel reconciliation")
    assert re.fullmatch(r"Public cancel reconciliation: Atom entry cancelled, RSS item"
                        r" cancelled; cards on the list and the alert's page: zh-CN cancelled,"
                        r" en-US cancelled; feed delivery delivered \(feed-v\d+\)", line), \
        (line, deliveries(demo, alert_id, "feed"), deliveries(demo, alert_id, "wechat"))
    assert demo.line("Public walk-through: alert").endswith(
        f"cancelled by {cancelled['message']['identifier']}")

    cancel = _cap(url, alert_id)
    title = "[已解除] " + str(cancel.info_for("zh-CN").headline)  # type: ignore[union-attr]
    _check_feeds(url, alert_id, cancel, "Cancel", title)
    _check_pages(url, alert_id, cancel, cancelled=True)
    card = _card(url, f"/alerts/{alert_id}?lang=en-US", alert_id)
    assert card is not None and CANCEL_REASON in card.text_content()

    [feed] = _final(demo, alert_id, "feed", cancel_id)
    assert feed["status"] == "delivered" and line.endswith(f"({feed['provider_id']})")
    wechat = eventually(lambda: _final(demo, alert_id, "wechat", cancel_id),
                        "the WeChat all-clear deliveries are final")
    _check_wechat(demo, wechat, cancel)
    _check_wechat_line(demo.line("WeChat cancel reconciliation"), "cancel reconciliation",
                       wechat)

    # Ctrl-C stops everything, the WeChat simulator and the worker with them.
    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(STOP_SECONDS) == 0
    assert "worker stopped exit_code=0" in demo.log.read_text()
