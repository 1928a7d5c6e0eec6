"""The feeds over HTTP: conditional GET, filters, paging and size; served as built."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from lxml import etree
from sqlalchemy import select

from publisher.services import feed_documents
from publisher.services.actors import Actor
from publisher.services.feeds import FeedOptions
from publisher.services.signer import CenterSigner
from publisher.store.db import session_scope
from publisher.store.models import User
from publisher.web.context import SETTINGS
from tests.integration.api_client import Api
from tests.integration.feed_support import ATOM, Feed, atom_schema, feed_of, rss_schema
from tests.integration.lifecycle_support import People
from tests.services import center_settings, center_signer

__all__ = ["center_settings", "center_signer"]

pytestmark = pytest.mark.asyncio

T = TypeVar("T")
DEADLINE_SECONDS = 30.0


@pytest.fixture
def site_feed(api: Api, center_signer: CenterSigner) -> Feed:
    with session_scope(api.sessions) as session:
        actors = {user.username: Actor.of_user(user) for user in session.scalars(select(User))}
    people = People(**{name: actors[name] for name in People.__dataclass_fields__})
    site = FeedOptions.read(api.client.app[SETTINGS]).site
    return feed_of(api.sessions, people, center_signer, site)


def site_feed_url(api: Api) -> str:
    return FeedOptions.read(api.client.app[SETTINGS]).site.public_url


async def eventually(probe: Callable[[], Awaitable[T | None]]) -> T:
    """The first answer of ``probe`` that is not None; a web process sees a change within 1 s."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        found = await probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("the feed never showed the change")
        await asyncio.sleep(0.1)


async def _get(api: Api, path: str, **headers: str) -> tuple[int, bytes, Any]:
    async with api.client.get(path, headers=headers) as response:
        return response.status, await response.read(), response.headers


def _ids(body: bytes) -> list[str]:
    return [entry.findtext(f"{ATOM}id") or "" for entry in etree.fromstring(body)
            .findall(f"{ATOM}entry")]


async def _entries(api: Api, path: str, count: int) -> bytes:
    async def probe() -> bytes | None:
        status, body, _ = await _get(api, path)
        assert status == 200, body
        return body if len(_ids(body)) == count else None
    return await eventually(probe)


async def test_conditional_requests_get_304_until_the_feed_changes(api: Api,
                                                                   site_feed: Feed) -> None:
    site_feed.publish()
    await _entries(api, "/feeds/alerts.atom", 1)
    _, _, headers = await _get(api, "/feeds/alerts.atom")
    assert headers["Content-Type"].startswith("application/atom+xml")
    etag, modified = headers["ETag"], headers["Last-Modified"]
    assert (await _get(api, "/feeds/alerts.atom", **{"If-None-Match": etag}))[:2] == (304, b"")
    assert (await _get(api, "/feeds/alerts.atom", **{"If-Modified-Since": modified}))[0] == 304
    assert (await _get(api, "/feeds/alerts.atom", **{"If-None-Match": '"other"'}))[0] == 200
    site_feed.publish()

    async def changed() -> tuple[int, Any] | None:
        status, _body, headers = await _get(api, "/feeds/alerts.atom",
                                           **{"If-None-Match": etag})
        return (status, headers) if status == 200 else None
    _status, headers = await eventually(changed)
    assert headers["ETag"] != etag


async def test_rss_is_served_and_conditional_too(api: Api, site_feed: Feed) -> None:
    site_feed.publish()

    async def probe() -> tuple[bytes, Any] | None:
        _status, body, headers = await _get(api, "/feeds/alerts.rss")
        return (body, headers) if b"<item>" in body else None
    body, headers = await eventually(probe)
    assert headers["Content-Type"].startswith("application/rss+xml")
    assert rss_schema().validate(etree.fromstring(body)), rss_schema().error_log
    status, _, _ = await _get(api, "/feeds/alerts.rss", **{"If-None-Match": headers["ETag"]})
    assert status == 304


@pytest.mark.parametrize(("query", "count"), [
    ("district=110105", 1), ("district=朝阳区", 1), ("district=Chaoyang", 1),
    ("district=110000", 1), ("district=110108", 0), ("severity=Extreme", 1),
    ("severity=minor", 0), ("district=110105&severity=Extreme&lang=en-US", 1),
])
async def test_filters_choose_the_entries(api: Api, site_feed: Feed, query: str,
                                          count: int) -> None:
    site_feed.publish()
    await _entries(api, "/feeds/alerts.atom", 1)
    for feed_format, schema in (("atom", atom_schema()), ("rss", rss_schema())):
        status, body, _ = await _get(api, f"/feeds/alerts.{feed_format}?{query}")
        assert status == 200
        # The RSS schema wants an item; RSS 2.0 itself allows an empty channel.
        if count or feed_format == "atom":
            assert schema.validate(etree.fromstring(body)), schema.error_log
    assert len(_ids((await _get(api, f"/feeds/alerts.atom?{query}"))[1])) == count


async def test_the_language_filter_picks_the_info_block(api: Api, site_feed: Feed) -> None:
    site_feed.publish()
    await _entries(api, "/feeds/alerts.atom", 1)
    _, body, _ = await _get(api, "/feeds/alerts.atom?lang=en-US")
    title = etree.fromstring(body).find(f"{ATOM}entry/{ATOM}title")
    assert title is not None
    assert title.text == "Beijing Meteorological Observatory issues a red rainstorm warning"


@pytest.mark.parametrize(("query", "field"), [
    ("district=Atlantis", "district"), ("severity=Apocalyptic", "severity"),
    ("lang=tlh", "lang"), ("page=0", "page"), ("page=9", "page"),
])
async def test_a_bad_filter_is_refused_naming_it(api: Api, query: str, field: str) -> None:
    status, body, _ = await _get(api, f"/feeds/alerts.atom?{query}")
    assert status in (400, 404)
    assert f'"field": "{field}"'.encode() in body or f'"field":"{field}"'.encode() in body


async def test_many_alerts_are_paged_with_next_links_under_the_size_limit(
        api: Api, site_feed: Feed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_documents, "ENTRIES_PER_PAGE", 3)
    monkeypatch.setattr(feed_documents, "MAX_FEED_BYTES", 6000)
    published = {site_feed.publish().alert_id for _ in range(5)}
    for feed_format in ("atom", "rss"):
        seen: list[str] = []
        path: str | None = f"/feeds/alerts.{feed_format}"

        async def first_page_complete(feed_format: str = feed_format) -> bool | None:
            _, body, _ = await _get(api, f"/feeds/alerts.{feed_format}")
            return True if f"/alerts/{max(published)}<".encode() in body else None
        await eventually(first_page_complete)
        pages = 0
        while path is not None:
            status, body, _ = await _get(api, path)
            assert status == 200
            assert len(body) <= 6000
            document = etree.fromstring(body)
            if feed_format == "atom":
                assert atom_schema().validate(document), atom_schema().error_log
                seen += _ids(body)
            else:
                assert rss_schema().validate(document), rss_schema().error_log
                seen += [item.findtext("guid") or "" for item in document.iter("item")]
            nexts = [link.get("href") for link in document.iter(f"{ATOM}link")
                     if link.get("rel") == "next"]
            path = nexts[0].removeprefix(site_feed_url(api)) if nexts else None
            pages += 1
        assert pages >= 2
        assert sorted(seen) == sorted({*seen})
        assert {int(entry.rsplit("/", 1)[1]) for entry in seen} == published
