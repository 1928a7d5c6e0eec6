"""The feed entry an alert will become, written by the feed writer itself and read back.

The entry is made the way the feeds make every entry (``card_of`` for the
card, ``render_feed`` for the Atom document, in the reader's language), for
a feed that holds only this alert; its title, summary and links are then
read out of the document. So the preview says what a feed reader will show,
the "[Cancelled]" prefix and the links included, and cannot drift from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from publisher.cap.model import Alert
from publisher.services.feed_documents import FeedFormat, FeedQuery, FeedSite, render_feed
from publisher.services.public_alerts import PublicAlert, card_of

__all__ = ["FeedEntryPreview", "feed_entry"]

_ATOM = {"atom": "http://www.w3.org/2005/Atom"}
# The draft has no published message yet: no row id to name.
_UNPUBLISHED_MESSAGE = 0


@dataclass(frozen=True, slots=True)
class FeedEntryPreview:
    """An Atom entry as readers see it: title, summary, the CAP link and the public page."""

    title: str
    summary: str
    link: str
    page: str


def feed_entry(alert: Alert, alert_id: int, language: str, site: FeedSite,
               now: datetime) -> FeedEntryPreview:
    """The entry of ``alert`` (alert ``alert_id``) in the ``language`` feed, as of ``now``."""
    public = PublicAlert(alert_id, _UNPUBLISHED_MESSAGE, alert, published=now, updated=now,
                         leaves_at=None)
    document = render_feed([card_of(public, language)], FeedQuery(FeedFormat.ATOM, language),
                           site, now)[0]
    entry = etree.fromstring(document).find("atom:entry", _ATOM)
    if entry is None:
        raise ValueError(f"alert {alert_id}: the feed writer wrote no entry for it")
    links = {link.get("rel"): link.get("href", "") for link in entry.iterfind("atom:link", _ATOM)}
    return FeedEntryPreview(
        title=entry.findtext("atom:title", "", _ATOM),
        summary=entry.findtext("atom:summary", "", _ATOM),
        link=links.get("alternate", ""), page=links.get("related", ""))
