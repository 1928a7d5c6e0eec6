"""Per-client rate limits: logging in, and the public page, feeds and timeline, answer 429
with Retry-After past their burst; the staff API is not limited; the limits are configured."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from sqlalchemy.orm import Session, sessionmaker

from publisher.config import ConfigError, Settings, load_settings
from publisher.web.app import create_app
from publisher.web.client_address import client_address, read_trusted_proxies
from publisher.web.rate_limit import DEFAULT_LIMITS, RateLimit, TokenBuckets, read_rate_limits
from tests.integration.staff_support import PASSWORD, make_staff

PUBLIC_PATHS = ("/", "/feeds/alerts.atom", "/feeds/alerts.rss", "/api/timeline")
BURST = 3


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    clock = Clock()
    buckets = TokenBuckets(RateLimit(burst=2, per_minute=30), clock)
    assert [buckets.take("192.0.2.1") for _ in range(2)] == [0.0, 0.0]
    assert buckets.take("192.0.2.1") == pytest.approx(2.0)
    assert buckets.take("192.0.2.2") == 0.0, "another client has a bucket of its own"
    clock.now += 2.0
    assert buckets.take("192.0.2.1") == 0.0
    assert buckets.take("192.0.2.1") > 0


def test_many_addresses_at_once_cannot_grow_the_buckets_without_end() -> None:
    clock = Clock()
    buckets = TokenBuckets(RateLimit(burst=5, per_minute=1), clock)
    for number in range(25_000):
        assert buckets.take(f"10.{number >> 16}.{(number >> 8) & 255}.{number & 255}") == 0.0
    assert len(buckets) <= 10_000


def test_the_configuration_changes_a_limit_and_names_a_mistake() -> None:
    limits = read_rate_limits({"login": {"burst": 5}})
    assert limits["login"] == RateLimit(burst=5, per_minute=DEFAULT_LIMITS["login"].per_minute)
    assert limits["public"] == DEFAULT_LIMITS["public"]
    for configured, named in (({"logins": {}}, "rate_limits.logins"),
                              ({"login": {"rate": 1}}, "rate_limits.login.rate"),
                              ({"public": {"burst": "many"}}, "rate_limits.public.burst"),
                              ({"public": {"per_minute": 0}}, "per_minute")):
        with pytest.raises(ConfigError, match=named):
            read_rate_limits(configured)


@pytest_asyncio.fixture
async def limited(aiohttp_client: Any, api_settings: Settings,
                  sessions: sessionmaker[Session]) -> TestClient[Any, Any]:
    make_staff(sessions)
    settings = replace(api_settings, rate_limits={
        "login": {"burst": BURST, "per_minute": 1}, "public": {"burst": BURST, "per_minute": 1}})
    return await aiohttp_client(create_app(settings))


@pytest.mark.asyncio
async def test_the_public_pages_share_one_limit_per_client(
        limited: TestClient[Any, Any]) -> None:
    for path in PUBLIC_PATHS[:BURST]:
        async with limited.get(path) as allowed:
            assert allowed.status == 200, path
    for path in PUBLIC_PATHS:
        async with limited.get(path) as refused:
            assert refused.status == 429, path
            assert int(refused.headers["Retry-After"]) >= 1
            body = await refused.json()
            assert body["error"] == "rate_limited" and body["field"] == "rate_limit"
            assert "try again" in body["reason"]


@pytest.mark.asyncio
async def test_the_staff_api_is_not_limited(limited: TestClient[Any, Any]) -> None:
    for _ in range(BURST * 3):
        async with limited.get("/api/alerts") as answer:
            assert answer.status == 401


@pytest.mark.asyncio
async def test_logging_in_is_limited_per_client_even_with_the_right_password(
        limited: TestClient[Any, Any]) -> None:
    async def attempt(password: str) -> int:
        limited.session.cookie_jar.clear()
        async with limited.get("/staff/login") as form:
            token = (await form.text()).split('name="csrf_token" value="', 1)[1].split('"')[0]
        async with limited.post("/staff/login", allow_redirects=False, data={
                "username": "author", "password": password, "csrf_token": token}) as answer:
            if answer.status == 429:
                assert int(answer.headers["Retry-After"]) >= 1
                assert "rate_limit" in await answer.text()
            return answer.status

    assert [await attempt("wrong") for _ in range(BURST)] == [401] * BURST
    assert await attempt(PASSWORD) == 429
    # The login form itself is still shown: only attempts count.
    async with limited.get("/staff/login") as form:
        assert form.status == 200


PROXY = "127.0.0.1"


def test_the_client_is_the_last_hop_a_trusted_proxy_names() -> None:
    proxies = read_trusted_proxies(["127.0.0.1", "10.0.0.0/8"])
    # The client wrote the leftmost entry itself: only the proxies' appends count.
    assert client_address(PROXY, ["203.0.113.9, 198.51.100.7"], proxies) == "198.51.100.7"
    assert client_address(PROXY, ["198.51.100.7, 10.1.2.3"], proxies) == "198.51.100.7"
    assert client_address(PROXY, ["198.51.100.7", "10.1.2.3"], proxies) == "198.51.100.7"
    assert client_address(PROXY, [], proxies) == PROXY
    # A hop that is no address ends the walk at the proxy that passed it on.
    assert client_address(PROXY, ["198.51.100.7, not-an-address, 10.1.2.3"],
                          proxies) == "10.1.2.3"
    assert client_address("2001:db8::5", ["198.51.100.7"], proxies) == "2001:db8::5"
    assert client_address(None, ["198.51.100.7"], proxies) == "unknown"


def test_a_header_from_an_untrusted_peer_changes_nothing() -> None:
    assert client_address("192.0.2.44", ["198.51.100.7"], ()) == "192.0.2.44"
    assert client_address("192.0.2.44", ["198.51.100.7"],
                          read_trusted_proxies("10.0.0.0/8")) == "192.0.2.44"


def test_trusted_proxies_are_read_from_a_list_or_the_environment_and_mistakes_named() -> None:
    assert read_trusted_proxies("10.0.0.0/8, 192.0.2.1") == (
        ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.0.2.1/32"))
    assert read_trusted_proxies("") == ()
    with pytest.raises(ConfigError, match=r"trusted_proxies\[1\]: 'proxy.local'"):
        read_trusted_proxies(["10.0.0.1", "proxy.local"])
    settings = load_settings({"PUBLISHER_TRUSTED_PROXIES": "10.0.0.0/8,172.16.0.0/12",
                              "PUBLISHER_CONFIG": "/nonexistent.toml"})
    assert settings.trusted_proxies == ("10.0.0.0/8", "172.16.0.0/12")


async def _login_page_status(client: TestClient[Any, Any], forwarded_for: str) -> int:
    async with client.post("/staff/login", allow_redirects=False, data={},
                           headers={"X-Forwarded-For": forwarded_for}) as answer:
        return answer.status


@pytest.mark.asyncio
async def test_behind_a_trusted_proxy_each_client_has_its_own_limit(
        aiohttp_client: Any, api_settings: Settings) -> None:
    settings = replace(api_settings, trusted_proxies=(PROXY,), rate_limits={
        "login": {"burst": BURST, "per_minute": 1}})
    client = await aiohttp_client(create_app(settings))
    first = [await _login_page_status(client, "198.51.100.7") for _ in range(BURST + 1)]
    assert first[-1] == 429 and 429 not in first[:-1]
    assert await _login_page_status(client, "198.51.100.8") != 429, \
        "another client behind the same proxy is not limited by the first"


@pytest.mark.asyncio
async def test_without_trust_a_forged_header_does_not_escape_the_limit(
        limited: TestClient[Any, Any]) -> None:
    statuses = [await _login_page_status(limited, f"198.51.100.{number}")
                for number in range(BURST + 1)]
    assert statuses[-1] == 429
