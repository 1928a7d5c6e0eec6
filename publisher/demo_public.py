"""What the public sees of an alert, read back over HTTP as a reader or an aggregator reads it.

The Atom and RSS feeds are fetched and parsed (with the safe XML parser, as
any aggregator should), and the alert's entry found by its id, the URL of
its public page; the page is fetched in each language, the list ``/`` and
the alert's own ``/alerts/{id}``, and the alert's card found by its
``data-alert-id``. The feed channel's ``public_url`` must be the address the
pages are fetched from, as it is in the demo.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

from lxml import etree, html

from publisher.cap.model import MsgType
from publisher.cap.xmlsafe import parse_untrusted_xml
from publisher.services.feed_documents import CAP_MEDIA_TYPE, FeedFormat
from publisher.services.languages import LANGUAGES

__all__ = [
    "FeedEntry",
    "PageCard",
    "PublicView",
    "feed_entry",
    "page_card",
    "public_view",
]

_ATOM = "{http://www.w3.org/2005/Atom}"
_MSG_TYPE_SCHEME = "urn:oasis:names:tc:emergency:cap:1.2#msgType"
_FETCH_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """An alert's entry in a feed: its title, its CAP message type, its link to the CAP.

    A state of ``PublicView`` (in force, cancelled) holds only with the link.
    """

    title: str
    msg_type: str
    cap_link: str | None

    @property
    def cancelled(self) -> bool:
        return self.msg_type == MsgType.CANCEL.value


@dataclass(frozen=True, slots=True)
class PageCard:
    """An alert's card on a public page: the language it speaks, its headline, its state."""

    language: str
    headline: str
    cancelled: bool


def _fetch(url: str, language: str | None = None) -> bytes:
    headers = {"Accept-Language": language} if language else {}
    # The platform's own pages, at the demo's http address.
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=_FETCH_SECONDS) as response:  # noqa: S310
        body: bytes = response.read()
    return body


def _atom_entry(root: etree._Element, page_url: str) -> FeedEntry | None:
    for entry in root.iter(f"{_ATOM}entry"):
        if entry.findtext(f"{_ATOM}id") != page_url:
            continue
        msg_type = next((category.get("term", "") for category in entry.iter(f"{_ATOM}category")
                         if category.get("scheme") == _MSG_TYPE_SCHEME), "")
        cap = next((link.get("href") for link in entry.iter(f"{_ATOM}link")
                    if link.get("type") == CAP_MEDIA_TYPE), None)
        return FeedEntry(entry.findtext(f"{_ATOM}title") or "", msg_type, cap)
    return None


def _rss_item(root: etree._Element, page_url: str) -> FeedEntry | None:
    for item in root.iter("item"):
        if item.findtext("guid") != page_url:
            continue
        msg_type = next((category.text or "" for category in item.iter("category")
                         if category.get("domain") == _MSG_TYPE_SCHEME), "")
        return FeedEntry(item.findtext("title") or "", msg_type, item.findtext("link"))
    return None


def feed_entry(url: str, feed_format: FeedFormat, alert_id: int,
               language: str | None = None) -> FeedEntry | None:
    """The alert's entry in the feed at ``url`` (first page; ``?lang=`` when given), or None."""
    query = f"?lang={language}" if language else ""
    document = parse_untrusted_xml(_fetch(f"{url}/feeds/alerts.{feed_format.value}{query}"))
    page_url = f"{url}/alerts/{alert_id}"
    if feed_format is FeedFormat.ATOM:
        return _atom_entry(document, page_url)
    return _rss_item(document, page_url)


def page_card(url: str, path: str, alert_id: int, language: str, *,
              by_header: bool = False) -> PageCard | None:
    """The alert's card on the page at ``path`` asked for in ``language`` (``?lang=``, or the
    ``Accept-Language`` header when ``by_header``), or None."""
    address = f"{url}{path}" if by_header else f"{url}{path}?lang={language}"
    page = html.fromstring(_fetch(address, language if by_header else None))
    for card in page.iter("article"):
        if card.get("data-alert-id") == str(alert_id):
            heading = card.find(".//h2")
            words = [] if heading is None else [str(text) for text in heading.itertext()]
            return PageCard(card.get("lang", ""), "".join(words).strip(),
                            bool(card.xpath(".//*[@data-state='cancelled']")))
    return None


def _state(cancelled: bool) -> str:
    return "cancelled" if cancelled else "in force"


@dataclass(frozen=True, slots=True)
class PublicView:
    """An alert in both feeds, and its cards on the list and on its own page, by language."""

    atom: FeedEntry | None
    rss: FeedEntry | None
    cards: dict[str, tuple[PageCard | None, PageCard | None]]

    def shows(self, *, cancelled: bool) -> bool:
        """Every feed and page shows the alert, in the page's language, and as ``cancelled``."""
        return all(self._entry_state(entry) == _state(cancelled)
                   for entry in (self.atom, self.rss)) and \
            all(self._card_state(language) == _state(cancelled) for language in self.cards)

    @staticmethod
    def _entry_state(entry: FeedEntry | None) -> str:
        if entry is None:
            return "missing"
        return _state(entry.cancelled) if entry.cap_link else "without its CAP link"

    def _card_state(self, language: str) -> str:
        found = [card for card in self.cards[language] if card is not None]
        if len(found) < len(self.cards[language]):
            return "missing"
        if any(card.language != language for card in found):
            return "in another language"
        states = {_state(card.cancelled) for card in found}
        return states.pop() if len(states) == 1 else "in force and cancelled"

    def describe(self) -> str:
        cards = ", ".join(f"{language} {self._card_state(language)}" for language in self.cards)
        return (f"Atom entry {self._entry_state(self.atom)}, RSS item"
                f" {self._entry_state(self.rss)}; cards on the list and the alert's page:"
                f" {cards}")


def public_view(url: str, alert_id: int) -> PublicView:
    """The alert as the feeds at ``url`` and its pages in every language show it now."""
    return PublicView(
        atom=feed_entry(url, FeedFormat.ATOM, alert_id),
        rss=feed_entry(url, FeedFormat.RSS, alert_id),
        cards={language: (page_card(url, "/", alert_id, language),
                          page_card(url, f"/alerts/{alert_id}", alert_id, language))
               for language in LANGUAGES})
