"""``publisher demo`` with the district channel: three district nodes, then Huairou's link fails.

One demo process for the module (its start is slow), with the three nodes on
free ports and the speakers playing at once. The nodes' acks and local
counts are read over the center's API (``GET /api/nodes/{code}``), the
boards over their simulator's HTTP state routes, and Huairou's node is
stopped and started over the demo's node control port, as a reader does.
"""

from __future__ import annotations

import functools
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from publisher.cap.districts import load_districts
from publisher.config import load_paths
from publisher.demo_nodes import DEMO_NODES, HUAIROU, NODE_DEVICES
from publisher.demo_nodes_walkthrough import districts_alert_content
from tests.e2e.demo_support import Demo, api, eventually, get_json, running_demo

HEARTBEAT_SLACK_SECONDS = 30.0
EXPECTED_COUNTS = {kind: {"delivered": number, "failed": 0, "pending": 0}
                   for kind, number in NODE_DEVICES.items()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with running_demo(tmp_path_factory.mktemp("demo"), nodes=True,
                      options=["--speaker-playback-speed", "0"]) as running:
        yield running


def _node(demo: Demo, code: str) -> dict[str, Any]:
    exported = demo.exported()
    found: dict[str, Any] = api(exported["URL"], exported["APPROVER_TOKEN"], "GET",
                                f"/api/nodes/{code}")
    return found


def _delivery(demo: Demo, code: str, identifier: str) -> dict[str, Any] | None:
    return next((delivery for delivery in _node(demo, code)["deliveries"]
                 if delivery["identifier"] == identifier), None)


def _name(code: str) -> str:
    return load_districts(load_paths().districts_file).get(code).name_en


def _control(demo: Demo) -> str:
    match = re.search(r"curl -s -X POST (http://[^/]+)/nodes/CODE/stop",
                      demo.line("stop or start one:"))
    assert match, demo.line("stop or start one:")
    return match.group(1)


def _boards(demo: Demo, code: str) -> list[list[str]]:
    """What each of the district's node boards shows, by identifier."""
    match = re.search(r"simulators on (http://\S+) and", demo.line(
        f"{NODE_DEVICES['led']} boards and"))
    assert match, demo.lines
    devices = [device for device in get_json(f"{match.group(1)}/devices")
               if device["district_code"] == code]
    assert len(devices) == NODE_DEVICES["led"]
    return [[shown["identifier"] for shown in get_json(f"{device['endpoint']}/state")["showing"]]
            for device in devices]


def _all_show_once(demo: Demo, code: str, identifier: str) -> bool:
    return all(showing.count(identifier) == 1 for showing in _boards(demo, code))


def _post(url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=90) as response:
        return dict(json.loads(response.read()))


def _listens(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/api/messages", timeout=2)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def _publish(demo: Demo) -> tuple[int, str]:
    """Compose, submit and approve an alert for the three districts; (alert id, identifier)."""
    exported = demo.exported()
    url, author, approver = exported["URL"], exported["AUTHOR_TOKEN"], exported["APPROVER_TOKEN"]
    table = load_districts(load_paths().districts_file)
    content = districts_alert_content(datetime.now(UTC), [table.get(code) for code in DEMO_NODES])
    alert_id = api(url, author, "POST", "/api/alerts", content)["id"]
    api(url, author, "POST", f"/api/alerts/{alert_id}/submit")
    approved = api(url, approver, "POST", f"/api/alerts/{alert_id}/approve")
    return alert_id, approved["message"]["identifier"]


def test_each_node_acked_the_walk_through_alert_and_reported_its_local_counts(
        demo: Demo) -> None:
    line = demo.line("District node walk-through: alert")
    identifier = re.search(r"alert \d+ \((\S+)\)", line).group(1)  # type: ignore[union-attr]
    reconciliation = demo.line("Node reconciliation")
    assert reconciliation == "Node reconciliation:", reconciliation
    for code in DEMO_NODES:
        node = _node(demo, code)
        assert node["offline"] is False and node["last_heard_at"] is not None, node
        delivery = _delivery(demo, code, identifier)
        assert delivery is not None, node
        assert (delivery["status"], delivery["counts"]) == ("delivered", EXPECTED_COUNTS)
        assert _all_show_once(demo, code, identifier)
        printed = demo.line(f"{_name(code)} ({code}): push")
        assert printed.endswith("push delivered, local counts led 2 delivered, speaker 1"
                                " delivered; boards showing it: 2 of 2"), printed
        # Started before the center answered, the node waited for it without a failure.
        node_log = demo.data_dir / "districts" / code / "node.log"
        assert "catch-up failed" not in node_log.read_text(encoding="utf-8"), node_log


def test_huairou_stopped_for_a_publish_shows_it_within_a_heartbeat_once_started_again(
        demo: Demo) -> None:
    demo.line("Ctrl-C stops everything.")
    control = _control(demo)
    stopped = _post(f"{control}/nodes/{HUAIROU}/stop")
    assert stopped["running"] is False and not _listens(stopped["url"])

    alert_id, identifier = _publish(demo)
    for code in DEMO_NODES:
        if code != HUAIROU:
            eventually(functools.partial(_all_show_once, demo, code, identifier),
                       f"{code}'s boards showing {identifier}")
    unreached = _delivery(demo, HUAIROU, identifier)
    assert unreached is not None and unreached["status"] not in ("sent", "delivered"), unreached
    assert all(identifier not in showing for showing in _boards(demo, HUAIROU))

    started_at = time.monotonic()
    started = _post(f"{control}/nodes/{HUAIROU}/start")
    assert started["running"] is True
    interval = started["heartbeat_interval"]
    deadline = started_at + interval + HEARTBEAT_SLACK_SECONDS
    while not _all_show_once(demo, HUAIROU, identifier):
        assert time.monotonic() < deadline, (
            f"Huairou's boards do not show {identifier} {interval} s (and"
            f" {HEARTBEAT_SLACK_SECONDS:g} s of slack) after its node started: "
            f"{_boards(demo, HUAIROU)}")
        time.sleep(0.3)

    back = demo.line("Huairou's node is back:")
    assert re.fullmatch(rf"Huairou's node is back: 2 of 2 of its boards show alert {alert_id}"
                        rf" \({identifier}\) [\d.]+ s after its start, within one heartbeat"
                        rf" interval \({interval} s\)", back), back
    # Nothing twice: one delivery to the node, and its devices counted once each.
    def counted() -> bool:
        delivery = _delivery(demo, HUAIROU, identifier)
        return delivery is not None and delivery["counts"] == EXPECTED_COUNTS

    eventually(counted, f"Huairou's local counts of {identifier}")

    def delivered_once() -> bool:
        # The node caught up and reported before the center's retried push was
        # answered ("duplicate"): its receipt waited, and matched that hand-over.
        statuses = [delivery["status"] for delivery in _node(demo, HUAIROU)["deliveries"]
                    if delivery["identifier"] == identifier]
        assert len(statuses) == 1, statuses
        return statuses[0] == "delivered"

    eventually(delivered_once, f"Huairou's delivery of {identifier}")
    assert _all_show_once(demo, HUAIROU, identifier)
