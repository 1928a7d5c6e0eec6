"""``kill -9`` of each kind of worker in the middle of a batch, then a new worker of that kind.

Each kind is a worker as deployed, ``publisher worker --queues fanout,<its
channel's queue>``, sending through the simulator the demo uses. The worker
is killed once the simulator has taken part of the alert; a second worker
starts on the same queues, and the case reconciles what the simulator got
with the delivery rows: nothing lost, nothing duplicated.

A solo worker holds one batch at a time, so one batch at most is in doubt:
a channel idempotent by delivery id (boards, district nodes, WeChat by its
``client_msg_id``) hands it over again and the receiver keeps one copy; one
that is not (SMS) marks it failed, with the reason, rather than risk a
second copy.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select

from publisher.cap import generate_demo_identity
from publisher.cap.certificates import load_pem_certificates
from publisher.cap.districts import load_districts
from publisher.cap.model import Status
from publisher.channels.base import DeliveryStatus
from publisher.config import load_paths
from publisher.services.district_names import DistrictNames
from publisher.services.district_nodes import add_node
from publisher.sim.device_fleet import place_devices
from publisher.sim.device_sim import DeviceSimConfig, DeviceSimulatorThread
from publisher.sim.led import LedBoardSimulator
from publisher.sim.wechat import WechatSimulatorThread
from publisher.store.models import Delivery, Device, DeviceKind
from tests.channels.device_support import districts
from tests.channels.wechat_support import APPID, SECRET, TEMPLATE_ID, running_api
from tests.e2e.worker_support import kill_hard, stop
from tests.faults.case_support import installation, rows_by_address
from tests.faults.installation import FaultInstallation, status_counts
from tests.faults.sms_case import SMS_QUEUES, sms_alert
from tests.faults.targets import add_followers, register_devices
from tests.integration.district_center_support import CENTER_TOKEN, FakeNode
from tests.integration.fanout_support import CHAOYANG, geocoded, publish, signing_identity
from tests.integration.sms_support import StartSmsc, smsc_factory

__all__ = ["installation", "smsc_factory"]

CITY = "110000"
PLANNING_SECONDS = 60.0
RECOVERY_SECONDS = 75.0
# How the platform marks a delivery it cannot tell was handed over.
INTERRUPTED = "interrupted while being handed over"

SUBSCRIBERS = 600
SMS_BATCH = 50
# Parts a second: the alert takes seconds, so the kill lands in a batch.
SMS_RATE = 150.0

BOARDS = 800
LED_BATCH = 50
LED_QUEUES = ("fanout", "channel.led")

FOLLOWERS = 600
WECHAT_BATCH = 50
WECHAT_RATE = 100.0
WECHAT_QUEUES = ("fanout", "channel.wechat")

NODE_BATCH = 4
# A node takes this long to answer a push, one push at a time: the kill lands in a batch.
NODE_ANSWER_SECONDS = 0.4
DISTRICT_QUEUES = ("fanout", "channel.district")


def _killed_and_replaced(installation: FaultInstallation, queues: Sequence[str],
                         taken: Callable[[], int], batch: int, settled: Callable[[], bool],
                         state: Callable[[], object]) -> None:
    """A worker killed once ``taken()`` (by the simulator) passes two batches, then another
    worker on the same queues until ``settled()``."""
    first = installation.start_worker("first", queues)
    try:
        installation.wait(lambda: taken() >= 2 * batch, PLANNING_SECONDS,
                          "the simulator to take two batches", state)
        kill_hard(first)
    finally:
        stop(first)
    assert not settled(), f"the alert went out whole before the kill: {state()}"
    second = installation.start_worker("second", queues)
    try:
        installation.wait(settled, RECOVERY_SECONDS, "the alert to settle", state)
    finally:
        stop(second)


def test_sms_worker_killed_mid_batch(installation: FaultInstallation,
                                     smsc_factory: StartSmsc) -> None:
    # Receipts the killed worker's bind did not take are offered again for
    # long enough to reach the next worker's bind.
    smsc = smsc_factory(dlr_delay=0.2, receipt_retry_interval=1.0)
    alert = sms_alert(installation, smsc, SUBSCRIBERS, batch_size=SMS_BATCH, rate=SMS_RATE)

    _killed_and_replaced(installation, SMS_QUEUES, alert.taken, SMS_BATCH, alert.settled,
                         alert.state)

    ledger = alert.ledger()
    assert sorted(ledger.rows) == alert.numbers
    assert ledger.duplicated == {}
    interrupted = ledger.with_status(DeliveryStatus.FAILED)
    # Only the batch in hand at the kill is in doubt, and each of its rows says so.
    assert len(interrupted) <= SMS_BATCH
    # The kill may cut a message between its parts.
    assert set(ledger.incomplete) <= set(interrupted)
    assert all((ledger.rows[number].last_error or "").startswith(INTERRUPTED)
               for number in interrupted)
    delivered = ledger.with_status(DeliveryStatus.DELIVERED)
    assert sorted(delivered + interrupted) == alert.numbers
    assert all(ledger.received(number) for number in delivered)
    assert set(ledger.applied.values()) == {1}
    # The SMSC reports on the parts of the batch in hand that it took, by ids
    # the killed worker never stored: those receipts, and only those, match nothing.
    assert ledger.unmatched_ids <= {provider_id for number in interrupted
                                    for provider_id in ledger.taken_ids.get(number, ())}


@pytest.fixture
def led_boards(tmp_path: Path) -> Iterator[DeviceSimulatorThread[LedBoardSimulator]]:
    boards = place_devices("led", BOARDS, districts(CHAOYANG), seed=7)
    # Their acks go nowhere: the case reads what each board got, not the receipts.
    config = DeviceSimConfig(data_dir=tmp_path / "boards", ack_attempts=1)
    running = LedBoardSimulator(config, boards).start_in_thread()
    yield running  # type: ignore[misc]
    running.stop()


def _board_rows(installation: FaultInstallation, message_id: int) -> dict[str, Delivery]:
    with installation.session_factory() as session:
        return {device_id: delivery for delivery, device_id in session.execute(
            select(Delivery, Device.device_id).join(Device, Device.target_id == Delivery.target_id)
            .where(Delivery.message_id == message_id))}


def test_led_worker_killed_mid_batch(
        installation: FaultInstallation,
        led_boards: DeviceSimulatorThread[LedBoardSimulator]) -> None:
    installation.configure(["led"], {"led": {"callback_url": "http://127.0.0.1:9",
                                             "concurrency": 1}}, batch_size=LED_BATCH)
    factory = installation.session_factory
    register_devices(installation, led_boards, DeviceKind.LED)
    with factory() as session:
        # Sent a minute ago: a board is never pushed an alert that has expired.
        message = publish(session, areas=geocoded(CHAOYANG),
                          sent=datetime.now(UTC) - timedelta(minutes=1))
    message_id, identifier = message.id, message.identifier

    _killed_and_replaced(
        installation, LED_QUEUES, lambda: len(led_boards.received()), LED_BATCH,
        lambda: all(row.status.was_handed_over
                    for row in _board_rows(installation, message_id).values()),
        lambda: status_counts(factory, message_id))

    rows = _board_rows(installation, message_id)
    assert sorted(rows) == sorted(led_boards.simulator.devices)
    assert all(row.status is DeliveryStatus.SENT for row in rows.values())
    pushes = Counter((push.device_id, str(push.body["delivery"]))
                     for push in led_boards.received())
    # Every board got its own delivery, and nothing else.
    assert set(pushes) == {(device_id, str(row.id)) for device_id, row in rows.items()}
    # A push repeated is the batch in hand at the kill, under the same delivery id:
    # the board replaces what it shows, and shows the alert once.
    assert sum(pushes.values()) - len(pushes) <= LED_BATCH
    assert all(led_boards.simulator.showing(device_id) == [identifier] for device_id in rows)


@pytest.fixture
def wechat_api() -> Iterator[WechatSimulatorThread]:
    with running_api() as api:
        yield api


def test_wechat_worker_killed_mid_batch(installation: FaultInstallation,
                                        wechat_api: WechatSimulatorThread) -> None:
    installation.configure(["wechat"], {"wechat": {
        "appid": APPID, "secret": SECRET, "template_id": TEMPLATE_ID,
        "base_url": wechat_api.base_url, "rate_per_second": WECHAT_RATE}},
        batch_size=WECHAT_BATCH)
    factory = installation.session_factory
    openids = [f"oFault{index:022d}" for index in range(FOLLOWERS)]
    add_followers(installation, openids)
    with factory() as session:
        message_id = publish(session, areas=geocoded(CHAOYANG)).id

    _killed_and_replaced(
        installation, WECHAT_QUEUES, lambda: len(wechat_api.received()), WECHAT_BATCH,
        lambda: all(row.status.was_handed_over
                    for row in rows_by_address(installation, message_id).values()),
        lambda: status_counts(factory, message_id))

    rows = rows_by_address(installation, message_id)
    assert sorted(rows) == openids
    assert all(row.status is DeliveryStatus.SENT for row in rows.values()), \
        status_counts(factory, message_id)
    # The API keeps one message per (openid, client_msg_id): the batch in hand,
    # sent again, reached nobody twice.
    taken = Counter(each.openid for each in wechat_api.received())
    assert taken == dict.fromkeys(openids, 1)
    assert {str(row.provider_id) for row in rows.values()} == \
        {str(each.msgid) for each in wechat_api.received()}


@dataclass
class SlowNode(FakeNode):
    """A district node that answers each push only after ``NODE_ANSWER_SECONDS``."""

    async def _cap(self, request: web.Request) -> web.Response:
        await asyncio.sleep(NODE_ANSWER_SECONDS)
        return await super()._cap(request)


@pytest.fixture
def district_nodes() -> Iterator[dict[str, FakeNode]]:
    """A node for every district of the city, trusting the certificate that signs the alerts."""
    certificate = load_pem_certificates(signing_identity()[1])[0]
    codes = [code for code in load_districts(load_paths().districts_file).codes()
             if code != CITY]
    nodes = {code: SlowNode(code, certificate).start() for code in codes}
    yield nodes
    for node in nodes.values():
        node.stop()


def test_district_worker_killed_mid_batch(installation: FaultInstallation,
                                          district_nodes: dict[str, FakeNode],
                                          tmp_path: Path) -> None:
    installation.configure(["district"], {"district": {"center_token": CENTER_TOKEN,
                                                       "concurrency": 1}},
                           batch_size=NODE_BATCH)
    factory = installation.session_factory
    _, node_certificate = generate_demo_identity(tmp_path / "node-identity")
    names = DistrictNames(load_districts(load_paths().districts_file))
    with factory() as session:
        for code, node in district_nodes.items():
            add_node(session, {"code": code, "url": node.url,
                               "certificate_pem": node_certificate.read_text()}, names)
        session.commit()
        message_id = publish(session, status=Status.ACTUAL, areas=tuple(
            area for code in district_nodes for area in geocoded(code))).id

    def pushed() -> int:
        return sum(len(node.pushes) for node in district_nodes.values())

    _killed_and_replaced(
        installation, DISTRICT_QUEUES, pushed, NODE_BATCH,
        lambda: all(row.status.was_handed_over
                    for row in rows_by_address(installation, message_id).values()),
        lambda: status_counts(factory, message_id))

    rows = rows_by_address(installation, message_id)
    assert sorted(rows) == sorted(node.url for node in district_nodes.values())
    assert all(row.status is DeliveryStatus.SENT for row in rows.values())
    # Every node holds the signed alert once; a push repeated is the batch in hand at
    # the kill, which the node acked as a duplicate.
    assert all(len(set(node.pushes)) == 1 for node in district_nodes.values())
    assert pushed() - len(district_nodes) <= NODE_BATCH
