"""The public feeds as documents: Atom 1.0 and RSS 2.0 CAP indexes, written with feedgen.

They follow the CAP index conventions of the NWS and Google Public Alerts
feeds: one entry per alert, whose stable id is the alert's public page,
whose title is the headline, and whose link of type ``application/cap+xml``
is the signed CAP message. An Update or a Cancel changes the entry in
place (same id, a later ``updated``); a cancelled entry says so in its
title and carries the ``Cancel`` message type as a category.

A document never exceeds ``MAX_FEED_BYTES`` (Google's limit for a CAP feed,
900 KB): the entries go on pages linked by ``rel="next"``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from publisher.services.languages import CHINESE, DEFAULT_LANGUAGE, ENGLISH
from publisher.services.public_alerts import AlertFilter, Card

__all__ = [
    "CAP_MEDIA_TYPE",
    "ENTRIES_PER_PAGE",
    "MAX_FEED_BYTES",
    "FeedFormat",
    "FeedQuery",
    "FeedSite",
    "render_feed",
]

CAP_MEDIA_TYPE = "application/cap+xml"
MAX_FEED_BYTES = 900_000
ENTRIES_PER_PAGE = 100
_ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
_CAP_SCHEME = "urn:oasis:names:tc:emergency:cap:1.2"
_GEOCODE_SCHEME = "GB/T 2260"
_TITLES = {CHINESE: "预警信息", ENGLISH: "Public alerts"}
_CANCELLED = {CHINESE: "[已解除] ", ENGLISH: "[Cancelled] "}


class FeedFormat(enum.StrEnum):
    ATOM = "atom"
    RSS = "rss"

    @property
    def media_type(self) -> str:
        return "application/atom+xml" if self is FeedFormat.ATOM else "application/rss+xml"


@dataclass(frozen=True, slots=True)
class FeedSite:
    """Where the public finds the platform, and who speaks in its feeds."""

    public_url: str
    author: str

    def url(self, path: str) -> str:
        return f"{self.public_url.rstrip('/')}{path}"


@dataclass(frozen=True, slots=True)
class FeedQuery:
    """One feed: a format, a language (None: each alert's own first) and a filter."""

    format: FeedFormat
    language: str | None = None
    filter: AlertFilter = field(default_factory=AlertFilter)

    @property
    def is_default(self) -> bool:
        return self.language is None and self.filter.is_empty

    def path(self, page: int = 1) -> str:
        parameters = {"district": self.filter.district,
                      "lang": self.language,
                      "severity": self.filter.severity.value if self.filter.severity else None,
                      "page": str(page) if page > 1 else None}
        query = urlencode({name: value for name, value in parameters.items() if value})
        return f"/feeds/alerts.{self.format.value}" + (f"?{query}" if query else "")


class _NextPage(BaseExtension):  # type: ignore[misc]
    """RSS 2.0 has no paging of its own: the Atom ``next`` link inside the channel."""

    href: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"atom": _ATOM_NAMESPACE}

    def extend_rss(self, rss_feed: Any) -> Any:
        if self.href is not None:
            channel = rss_feed[0]
            etree.SubElement(channel, f"{{{_ATOM_NAMESPACE}}}link",
                             href=self.href, rel="next", type=FeedFormat.RSS.media_type)
        return rss_feed

    def extend_atom(self, atom_feed: Any) -> Any:
        return atom_feed


class _EntryLinks(BaseExtension):  # type: ignore[misc]
    """The entry's links with their ``rel`` and ``type``: feedgen 1.0 writes only ``href``."""

    links: tuple[dict[str, str], ...] = ()

    def extend_atom(self, entry: Any) -> Any:
        for written in entry.findall(f"{{{_ATOM_NAMESPACE}}}link"):
            entry.remove(written)
        for link in self.links:
            etree.SubElement(entry, f"{{{_ATOM_NAMESPACE}}}link", link)
        return entry

    def extend_rss(self, item: Any) -> Any:
        return item


def _title(card: Card) -> str:
    prefix = _CANCELLED.get(card.language, _CANCELLED[ENGLISH]) if card.cancelled else ""
    return prefix + card.headline


def _summary(card: Card) -> str:
    return " ".join(part for part in (card.note if card.cancelled else "", card.description,
                                      card.instruction) if part) or card.headline


def _add_entry(feed: FeedGenerator, card: Card, site: FeedSite) -> None:
    entry = feed.add_entry(order="append")
    page_url = site.url(card.page_path)
    entry.id(page_url)
    entry.guid(page_url, permalink=True)
    entry.title(_title(card))
    entry.summary(_summary(card))
    entry.description(_summary(card))
    entry.published(card.published)
    entry.updated(card.updated)
    entry.pubDate(card.updated)
    entry.author({"name": card.sender_name})
    # The alternate link is the CAP message: RSS takes it as the item's <link>.
    links = ({"href": site.url(card.cap_path), "rel": "alternate", "type": CAP_MEDIA_TYPE},
             {"href": page_url, "rel": "related", "type": "text/html"})
    entry.link(list(links))
    entry.capindex.links = links
    entry.category([{"term": card.severity, "scheme": f"{_CAP_SCHEME}#severity"},
                    {"term": card.msg_type, "scheme": f"{_CAP_SCHEME}#msgType"},
                    {"term": card.status, "scheme": f"{_CAP_SCHEME}#status"},
                    *({"term": code, "scheme": _GEOCODE_SCHEME} for code in card.districts)])


def _render_page(cards: Sequence[Card], query: FeedQuery, *, site: FeedSite,
                 updated: datetime, page: int, has_next: bool) -> bytes:
    language = query.language or DEFAULT_LANGUAGE
    feed = FeedGenerator()
    feed.register_extension("capindex", _NextPage, _EntryLinks)
    self_url = site.url(query.path(page))
    feed.id(site.url(query.path()))
    feed.title(f"{_TITLES.get(language, _TITLES[ENGLISH])} - {site.author}")
    feed.subtitle(_TITLES[ENGLISH])
    feed.author({"name": site.author})
    feed.link(href=site.url("/"), rel="alternate", type="text/html")
    feed.link(href=self_url, rel="self", type=query.format.media_type)
    next_url = site.url(query.path(page + 1)) if has_next else None
    if next_url is not None:
        feed.link(href=next_url, rel="next", type=query.format.media_type)
        feed.capindex.href = next_url
    feed.language(language)
    feed.updated(updated)
    feed.lastBuildDate(updated)
    for card in cards:
        _add_entry(feed, card, site)
    if query.format is FeedFormat.ATOM:
        return bytes(feed.atom_str(pretty=False, encoding="UTF-8"))
    return bytes(feed.rss_str(pretty=False, encoding="UTF-8"))


def _fitting_chunks(cards: Sequence[Card], render: Any) -> list[Sequence[Card]]:
    """Pages of at most ENTRIES_PER_PAGE entries, halved until each fits MAX_FEED_BYTES."""
    pending = [cards[start:start + ENTRIES_PER_PAGE]
               for start in range(0, len(cards), ENTRIES_PER_PAGE)] or [cards]
    fitting: list[Sequence[Card]] = []
    while pending:
        chunk = pending.pop(0)
        if len(chunk) > 1 and len(render(chunk)) > MAX_FEED_BYTES:
            middle = len(chunk) // 2
            pending[:0] = [chunk[:middle], chunk[middle:]]
        else:
            fitting.append(chunk)
    return fitting


def render_feed(cards: Sequence[Card], query: FeedQuery, site: FeedSite,
                updated: datetime) -> list[bytes]:
    """Every page of one feed, the first one first; an empty feed is one page."""
    # Sized with a next link on every page: the last page, without one, only shrinks.
    chunks = _fitting_chunks(cards, lambda chunk: _render_page(
        chunk, query, site=site, updated=updated, page=1, has_next=True))
    return [_render_page(chunk, query, site=site, updated=updated, page=number,
                         has_next=number < len(chunks))
            for number, chunk in enumerate(chunks, start=1)]
