"""The public Atom and RSS feeds: content, CAP links, Update and Cancel, expiry, schemas."""

from __future__ import annotations

from datetime import timedelta

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.base import DeliveryStatus
from publisher.services.feed_documents import FeedFormat
from publisher.services.feeds import ensure_feed_target, load_feed, rebuild_feeds
from publisher.store.db import session_scope
from publisher.store.models import Delivery, Message, utcnow
from tests.integration.feed_support import ATOM, SITE, Feed, atom_schema, feed, rss_schema
from tests.services import center_settings, center_signer, postgres_url

__all__ = ["center_settings", "center_signer", "feed", "postgres_url"]


def _atom(sessions: sessionmaker[Session]) -> etree._Element:
    with session_scope(sessions) as session:
        _, pages = load_feed(session, FeedFormat.ATOM)
    return etree.fromstring(pages[0].body)


def _rss(sessions: sessionmaker[Session]) -> etree._Element:
    with session_scope(sessions) as session:
        _, pages = load_feed(session, FeedFormat.RSS)
    return etree.fromstring(pages[0].body)


def _entries(document: etree._Element) -> list[etree._Element]:
    return document.findall(f"{ATOM}entry")


def _feed_deliveries(sessions: sessionmaker[Session], message_id: int) -> list[Delivery]:
    with session_scope(sessions) as session:
        rows = session.scalars(select(Delivery).where(Delivery.message_id == message_id,
                                                      Delivery.channel == "feed")).all()
        session.expunge_all()
        return list(rows)


def test_a_published_alert_is_an_entry_linking_its_signed_cap(feed: Feed) -> None:
    message = feed.publish()
    atom = _atom(feed.sessions)
    assert atom_schema().validate(atom), atom_schema().error_log
    [entry] = _entries(atom)
    page_url = f"{SITE.public_url}/alerts/{message.alert_id}"
    assert entry.findtext(f"{ATOM}id") == page_url
    assert entry.findtext(f"{ATOM}title") == "北京市气象台发布暴雨红色预警信号"
    [cap_link] = [link for link in entry.findall(f"{ATOM}link")
                  if link.get("type") == "application/cap+xml"]
    assert cap_link.get("href") == f"{SITE.public_url}/alerts/{message.alert_id}.cap"
    assert cap_link.get("rel") == "alternate"
    assert entry.findtext(f"{ATOM}summary")
    [row] = _feed_deliveries(feed.sessions, message.id)
    assert row.status is DeliveryStatus.DELIVERED
    assert row.provider_id == "feed-v1"


def test_the_rss_feed_carries_the_same_entry_and_validates(feed: Feed) -> None:
    message = feed.publish()
    rss = _rss(feed.sessions)
    assert rss_schema().validate(rss), rss_schema().error_log
    [item] = rss.findall("channel/item")
    assert item.findtext("link") == f"{SITE.public_url}/alerts/{message.alert_id}.cap"
    assert item.findtext("guid") == f"{SITE.public_url}/alerts/{message.alert_id}"
    assert item.findtext("title") == "北京市气象台发布暴雨红色预警信号"


def test_an_update_replaces_its_entry(feed: Feed) -> None:
    first = feed.publish()
    other = feed.publish()
    feed.update(first.alert_id, headline="暴雨红色预警信号更新")
    entries = _entries(_atom(feed.sessions))
    ids = [entry.findtext(f"{ATOM}id") for entry in entries]
    assert sorted(ids) == sorted(f"{SITE.public_url}/alerts/{alert_id}"
                                 for alert_id in (first.alert_id, other.alert_id))
    updated = entries[ids.index(f"{SITE.public_url}/alerts/{first.alert_id}")]
    assert updated.findtext(f"{ATOM}title") == "暴雨红色预警信号更新"
    assert "Update" in [category.get("term") for category in updated.findall(f"{ATOM}category")]


def test_a_cancel_marks_its_entry_cancelled_once(feed: Feed) -> None:
    first = feed.publish()
    cancelled = feed.cancel(first.alert_id, "wrong district")
    atom = _atom(feed.sessions)
    assert atom_schema().validate(atom), atom_schema().error_log
    [entry] = _entries(atom)
    assert entry.findtext(f"{ATOM}title").startswith("[已解除] ")
    assert "wrong district" in entry.findtext(f"{ATOM}summary")
    assert "Cancel" in [category.get("term") for category in entry.findall(f"{ATOM}category")]
    [row] = _feed_deliveries(feed.sessions, cancelled.id)
    assert row.status is DeliveryStatus.DELIVERED
    assert row.provider_id == "feed-v2"


def test_an_expired_alert_leaves_the_feed(feed: Feed) -> None:
    staying = feed.publish()
    leaving = feed.publish(valid_for=timedelta(minutes=30))
    assert len(_entries(_atom(feed.sessions))) == 2
    with session_scope(feed.sessions) as session:
        state = rebuild_feeds(session, SITE, utcnow() + timedelta(hours=1))
    assert state.version == 3
    [entry] = _entries(_atom(feed.sessions))
    assert entry.findtext(f"{ATOM}id").endswith(f"/alerts/{staying.alert_id}")
    assert leaving.alert_id != staying.alert_id


def test_a_rebuild_with_nothing_changed_keeps_version_and_bytes(feed: Feed) -> None:
    message = feed.publish()
    with session_scope(feed.sessions) as session:
        before_state, before = load_feed(session, FeedFormat.ATOM)
    feed.deliver(message)  # a redelivered batch hands nothing over twice
    with session_scope(feed.sessions) as session:
        again = rebuild_feeds(session, SITE, utcnow())
    with session_scope(feed.sessions) as session:
        after_state, after = load_feed(session, FeedFormat.ATOM)
    assert again.version == before_state.version == after_state.version
    assert [page.etag for page in after] == [page.etag for page in before]


def test_an_exercise_misses_a_feed_that_is_no_test_target(feed: Feed) -> None:
    with session_scope(feed.sessions) as session:
        ensure_feed_target(session, "110000", is_test=False)
    message = feed.publish()
    assert _feed_deliveries(feed.sessions, message.id) == []
    with session_scope(feed.sessions) as session:
        assert session.scalar(select(Message.id).where(Message.id == message.id))
        rebuild_feeds(session, SITE, utcnow())
    assert _entries(_atom(feed.sessions)) == []
