"""A district node cut off from the center for five minutes, while the center goes on.

The center (web, worker and beat as deployed) and the Chaoyang node (two
boards) talk only through two partitionable links. An alert is relayed;
then both links black-hole for five minutes of wall time, during which the
center publishes a second alert, an Update of the first and a Cancel of the
second, and marks the node offline; the node hears no heartbeat and cannot
catch up. Once the links heal, the node must catch up in order and end in
the right state (the Update shown, the cancelled alert never), each message
relayed once, and each of the center's delivery rows to the node must end
delivered, one per message.

This case takes over five minutes: the fault cases run first, so it starts
at once and overlaps the rest of the suite.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from publisher.channels.base import DeliveryStatus
from tests.district_nodes.node_support import showing, shows_pushed
from tests.faults.case_support import installation
from tests.faults.center_and_node import CenterAndNode, center_and_node
from tests.faults.installation import FaultInstallation

__all__ = ["installation"]

PARTITION_SECONDS = 300.0
HEARTBEAT_INTERVAL = 10
RELAY_SECONDS = 90.0
# Offline once silent for the interval and 15 s of grace; a beat tick and a push timeout more.
OFFLINE_SECONDS = HEARTBEAT_INTERVAL + 15 + 5 + 5 + 30
# After the heal: the node's silence catch-up (two intervals) and its receipts. The
# center's push retries do not count: their backoff has grown to minutes by then.
SETTLE_SECONDS = 120.0
OPERATOR = ("sun.li", "correct horse battery")
BOARDS = ("led-110105-01", "led-110105-02")


def _boards_show(link: CenterAndNode, identifiers: list[str]) -> bool:
    return all(sorted(shown) == identifiers for shown in showing(link.boards).values())


def _delivered_once(link: CenterAndNode, identifiers: list[str]) -> bool:
    rows = link.node_deliveries()
    return all(len(rows.get(identifier, [])) == 1
               and rows[identifier][0].status is DeliveryStatus.DELIVERED
               for identifier in identifiers)


def _statuses(link: CenterAndNode) -> dict[str, list[str]]:
    return {identifier: [row.status.value for row in rows]
            for identifier, rows in link.node_deliveries().items()}


def test_node_partitioned_for_five_minutes_catches_up_once(
        installation: FaultInstallation, tmp_path: Path) -> None:
    with center_and_node(installation, tmp_path, HEARTBEAT_INTERVAL) as link:
        link.node.add_user(*OPERATOR)
        first = link.publish("暴雨红色预警")
        installation.wait(lambda: _boards_show(link, [first.identifier]), RELAY_SECONDS,
                          "the boards showing the first alert", lambda: showing(link.boards))
        installation.wait(lambda: _delivered_once(link, [first.identifier]), RELAY_SECONDS,
                          "the first alert's delivery to the node", lambda: _statuses(link))

        link.partition()
        cut_at = time.monotonic()
        second = link.publish("暴雨橙色预警")
        updated = link.update(first.alert_id, "暴雨红色预警（更新）")
        cancelled = link.cancel(second.alert_id)
        installation.wait(link.node_offline, OFFLINE_SECONDS, "the center showing the node"
                          " offline")
        remaining = PARTITION_SECONDS - (time.monotonic() - cut_at)
        time.sleep(max(0.0, remaining))
        # Nothing crossed the cut: the boards still show the first alert alone.
        assert _boards_show(link, [first.identifier]), showing(link.boards)
        assert "catch-up failed" in link.node.log_text() or \
            "no heartbeat from the center" in link.node.log_text()
        link.heal()

        identifiers = [message.identifier for message in (first, second, updated, cancelled)]
        installation.wait(lambda: _boards_show(link, [updated.identifier]), SETTLE_SECONDS,
                          "the boards showing the Update alone", lambda: showing(link.boards))
        installation.wait(lambda: _delivered_once(link, identifiers), SETTLE_SECONDS,
                          "every delivery to the node delivered", lambda: _statuses(link))
        installation.wait(lambda: not link.node_offline(), SETTLE_SECONDS,
                          "the center showing the node online again")

        states = {message["identifier"]: message["state"]
                  for message in link.node.messages(OPERATOR)}
        assert states == {first.identifier: "superseded", second.identifier: "cancelled",
                          updated.identifier: "relayed", cancelled.identifier: "relayed"}, states
        # Each shown once on each board; the cancelled alert never.
        assert Counter(shows_pushed(link.boards)) == {
            (board, identifier): 1 for board in BOARDS
            for identifier in (first.identifier, updated.identifier)}
        assert _statuses(link) == {identifier: ["delivered"] for identifier in identifiers}
