"""The WeChat access token dies in the middle of a batch, twice.

The worker (``publisher worker --queues fanout,channel.wechat``) sends an
alert to 600 followers in batches. Once the simulated API has taken a third
of them it expires every token (the next send is 42001), and at two thirds
it forgets them (40001: another server fetched a newer one). The client
renews its cached token once on either answer and sends again; the case
reconciles the simulator's log with the delivery rows: one template message
per follower, each row sent under the msgid the API answered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import insert

from publisher.channels.base import DeliveryStatus
from publisher.sim.wechat import WechatSimulatorThread
from publisher.store.models import Target
from tests.channels.wechat_support import APPID, SECRET, TEMPLATE_ID, running_api
from tests.faults.case_support import installation, rows_by_address, running_worker
from tests.faults.installation import FaultInstallation, status_counts
from tests.integration.fanout_support import CHAOYANG, geocoded, publish

__all__ = ["installation"]

FOLLOWERS = 600
BATCH = 50
# Messages a second: the alert takes seconds, so each fault lands inside a batch.
RATE = 100.0
QUEUES = ("fanout", "channel.wechat")
FAULT_SECONDS = 60.0
SETTLE_SECONDS = 75.0
EXPIRED, INVALID = 42001, 40001


@pytest.fixture
def wechat_api() -> Iterator[WechatSimulatorThread]:
    with running_api() as api:
        yield api


def _mid_batch(taken: int) -> bool:
    # Not on a batch boundary: the fault hits a batch the worker is sending.
    return taken % BATCH not in (0, BATCH - 1)


def _when_taken(installation: FaultInstallation, api: WechatSimulatorThread, count: int,
                fault: Callable[[], int]) -> int:
    """Wait for the API to have taken ``count`` messages, inject ``fault``; the count then."""
    installation.wait(lambda: len(api.received()) >= count, FAULT_SECONDS,
                      f"the API taking {count} messages", lambda: api.stats())
    taken = len(api.received())
    assert fault() > 0, "no token to expire: the fault hit nothing"
    return taken


def test_token_expires_and_is_revoked_mid_batch(installation: FaultInstallation,
                                                wechat_api: WechatSimulatorThread) -> None:
    installation.configure(["wechat"], {"wechat": {
        "appid": APPID, "secret": SECRET, "template_id": TEMPLATE_ID,
        "base_url": wechat_api.base_url, "rate_per_second": RATE}}, batch_size=BATCH)
    factory = installation.session_factory
    openids = [f"oToken{index:022d}" for index in range(FOLLOWERS)]
    with factory() as session:
        session.execute(insert(Target), [
            {"channel": "wechat", "address": openid, "district_code": CHAOYANG,
             "language": "zh-CN", "is_test": True, "active": True} for openid in openids])
        session.commit()
        message_id = publish(session, areas=geocoded(CHAOYANG)).id

    with running_worker(installation, "wechat", QUEUES):
        expired_at = _when_taken(installation, wechat_api, FOLLOWERS // 3 + BATCH // 2,
                                 wechat_api.expire_tokens)
        revoked_at = _when_taken(installation, wechat_api, 2 * FOLLOWERS // 3 + BATCH // 2,
                                 wechat_api.revoke_tokens)
        installation.wait(
            lambda: all(row.status.was_handed_over
                        for row in rows_by_address(installation, message_id).values()),
            SETTLE_SECONDS, "every delivery handed over",
            lambda: status_counts(factory, message_id))

    assert _mid_batch(expired_at) and _mid_batch(revoked_at), (expired_at, revoked_at)
    stats = wechat_api.stats()
    # Each fault was met (a send refused for it) and cost one new token, not one per send.
    assert stats["errcodes"].get(str(EXPIRED), 0) >= 1, stats
    assert stats["errcodes"].get(str(INVALID), 0) >= 1, stats
    assert stats["tokens_issued"] == 3, stats
    rows = rows_by_address(installation, message_id)
    assert sorted(rows) == openids
    assert all(row.status is DeliveryStatus.SENT for row in rows.values()), \
        status_counts(factory, message_id)
    received = wechat_api.received()
    assert Counter(each.openid for each in received) == dict.fromkeys(openids, 1)
    assert {openid: str(row.provider_id) for openid, row in rows.items()} == \
        {each.openid: str(each.msgid) for each in received}
