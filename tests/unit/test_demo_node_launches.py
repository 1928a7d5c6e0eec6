"""A demo node's starts are counted, so a stop and start between two looks is not missed."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from publisher.cap.districts import load_districts
from publisher.config import load_settings
from publisher.demo_nodes import HUAIROU, DemoNode


class _SleepingNode(DemoNode):
    def command(self) -> list[str]:
        return [sys.executable, "-c", "import time; time.sleep(60)"]


def _node(tmp_path: Path) -> DemoNode:
    settings = load_settings({}, tmp_path)
    district = load_districts(settings.paths.districts_file).get(HUAIROU)
    node = _SleepingNode(settings, district, center_url="http://127.0.0.1:1", free_port=True)
    node.directory.mkdir(parents=True)
    return node


def test_a_stop_and_start_between_two_looks_is_one_more_launch(tmp_path: Path) -> None:
    node = _node(tmp_path)
    try:
        node.launch()
        seen = node.launches
        assert node.wait_launched(seen, 0.05) is None

        node.stop()
        assert not node.running
        before = time.monotonic()
        node.launch()

        started = node.wait_launched(seen, 0.05)
        assert started is not None and started >= before
        assert node.running and node.launches == seen + 1
    finally:
        node.stop()


def test_a_waiter_wakes_at_the_launch_not_at_its_timeout(tmp_path: Path) -> None:
    node = _node(tmp_path)
    woke: list[float | None] = []
    waiter = threading.Thread(target=lambda: woke.append(node.wait_launched(0, 30.0)))
    try:
        waiter.start()
        node.launch()
        waiter.join(10.0)
        assert not waiter.is_alive() and woke and woke[0] is not None
    finally:
        node.stop()
