"""``publisher demo`` with the app channel: its app client shows each alert once, and resumes.

The demo runs as a process on a fresh data directory and free ports. The
test reads the client's log for the walk-through's alert and the
deliveries for its app delivery, kills the client, publishes an alert while
it is down, then runs the demo again on the same data directory: the new
client shows the missed alert, and nothing it showed before, again.
"""

from __future__ import annotations

import os
import re
import signal
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from publisher.cap.reader import read_alert
from publisher.demo_apps import DEMO_APP
from publisher.demo_walkthrough import demo_alert_content
from tests.e2e.demo_support import Demo, api, deliveries, eventually, running_demo

SHOWN = re.compile(r"\[app\] event (\d+): \w+ \w+ .* \((?P<identifier>[^()]+)\)$")


def _client_log(demo: Demo) -> Path:
    return demo.data_dir / "demo" / "app-client.log"


def _shown(demo: Demo) -> list[tuple[int, str]]:
    """The events the client printed, in order: (event id, CAP identifier)."""
    log = _client_log(demo)
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return [(int(match.group(1)), match.group("identifier"))
            for match in map(SHOWN.match, lines) if match]


def _identifier(demo: Demo, alert_id: int) -> str:
    with urllib.request.urlopen(f"{demo.exported()['URL']}/alerts/{alert_id}.cap",
                                timeout=30) as response:
        alert = read_alert(response.read()).alert
    assert alert is not None
    return alert.identifier


def _app_delivery(demo: Demo, alert_id: int) -> dict[str, Any] | None:
    items = deliveries(demo, alert_id, "app")
    mine = [item for item in items if item["address"] == f"app:{DEMO_APP}"]
    assert len(mine) <= 1, items
    return mine[0] if mine else None


def _delivered(demo: Demo, alert_id: int) -> bool:
    item = _app_delivery(demo, alert_id)
    return item is not None and item["status"] == "delivered"


def _client_pid(demo: Demo) -> int | None:
    """The demo's child running ``publisher app listen``."""
    pid = demo.process.pid
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            arguments = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            if b"app" in arguments and b"listen" in arguments:
                return int(child)
    return None


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return True
    return status == "Z"


def _publish(demo: Demo) -> int:
    exported = demo.exported()
    url, author = exported["URL"], exported["AUTHOR_TOKEN"]
    alert = api(url, author, "POST", "/api/alerts", demo_alert_content(datetime.now(UTC)))
    api(url, author, "POST", f"/api/alerts/{alert['id']}/submit")
    api(url, exported["APPROVER_TOKEN"], "POST", f"/api/alerts/{alert['id']}/approve", {})
    return int(alert["id"])


def test_the_demo_app_client_shows_each_alert_once_and_resumes(tmp_path: Path) -> None:
    with running_demo(tmp_path, apps=True) as demo:
        assert str(_client_log(demo)) in demo.line("Apps:")
        assert "/deliveries?channel=app" in demo.following("Apps:")
        walkthrough = demo.line("SMS walk-through: alert")
        alert_id = int(re.search(r"alert (\d+) ", walkthrough).group(1))  # type: ignore[union-attr]
        identifier = _identifier(demo, alert_id)
        eventually(lambda: identifier in {shown for _, shown in _shown(demo)},
                   "the app client shows the walk-through's alert")
        eventually(lambda: _delivered(demo, alert_id), "the app delivery is delivered")
        assert [shown for _, shown in _shown(demo)].count(identifier) == 1
        pid = eventually(lambda: _client_pid(demo), "the demo runs the app client")
        os.kill(pid, signal.SIGKILL)
        eventually(lambda: _gone(pid), "the app client is gone")
        before = _shown(demo)
        missed_id = _publish(demo)
        missed = _identifier(demo, missed_id)
        eventually(lambda: _app_delivery(demo, missed_id), "the missed alert's app delivery")
        assert missed not in {shown for _, shown in before}
    with running_demo(tmp_path, apps=True) as again:
        eventually(lambda: missed in {shown for _, shown in _shown(again)},
                   "the restarted client shows the alert it missed")
        eventually(lambda: _delivered(again, missed_id), "the missed alert's app delivery"
                                                          " is delivered")
        shown = _shown(again)
        assert shown[:len(before)] == before
        events = [event for event, _ in shown]
        assert len(events) == len(set(events)), shown
        identifiers = [shown_identifier for _, shown_identifier in shown]
        assert identifiers.count(missed) == identifiers.count(identifier) == 1
