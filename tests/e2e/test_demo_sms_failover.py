"""``publisher demo`` with two SMS routes: the SMSC stops in the middle of an alert, the rest of
it goes over the Twilio-compatible route, and every subscriber is delivered exactly once.

The demo runs as a process with the Twilio simulator as its second route and a batch a
subscriber; the test stops and starts the SMSC through its control port, and reconciles the
SMSC simulator's part log with the Twilio simulator's log and the alert's deliveries.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from publisher.demo_sms import DEMO_SUBSCRIBERS, START_PATH, STOP_PATH, SmsTally, tally
from publisher.demo_sms_failover import TWILIO_LOG
from publisher.demo_walkthrough import demo_alert_content
from publisher.services.sms_failover_audit import FAILOVER_ACTION
from tests.e2e.demo_support import Demo, api, deliveries, eventually, running_demo
from tests.e2e.serve_support import BIN

NUMBERS = sorted(number for _, _, numbers in DEMO_SUBSCRIBERS for number in numbers)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    with running_demo(tmp_path, failover=True) as running:
        yield running


def _post(url: str) -> Any:
    request = urllib.request.Request(url, method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _over_twilio(demo: Demo, since: float) -> list[str]:
    path = demo.data_dir / TWILIO_LOG
    if not path.exists():
        return []
    texts = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [text["to"] for text in texts if text["accepted_at"] >= since]


def _over_smsc(demo: Demo, since: datetime) -> list[str]:
    return [f"+{message.destination_addr}" for message in _smsc_tally(demo, since).messages]


def _smsc_tally(demo: Demo, since: datetime) -> SmsTally:
    return tally(demo.data_dir / "smsc" / "smsc.sqlite3", NUMBERS, since)


def _all_delivered(demo: Demo, alert_id: int) -> list[dict[str, Any]]:
    items = deliveries(demo, alert_id, "sms")
    return items if len(items) == len(NUMBERS) and all(
        item["status"] == "delivered" for item in items) else []


def test_the_smsc_stopped_mid_alert_moves_the_rest_to_the_twilio_route(demo: Demo) -> None:
    demo.line("Reconciliation")  # the walk-through's alert is done
    control = demo.line(str(BIN / "publisher") + " sim mo").split("--control ", 1)[1].split()[0]
    exported = demo.exported()
    url, author, approver = exported["URL"], exported["AUTHOR_TOKEN"], exported["APPROVER_TOKEN"]
    since, since_epoch = datetime.now(UTC), datetime.now(UTC).timestamp()
    alert = api(url, author, "POST", "/api/alerts", demo_alert_content(datetime.now(UTC)))
    api(url, author, "POST", f"/api/alerts/{alert['id']}/submit")
    api(url, approver, "POST", f"/api/alerts/{alert['id']}/approve", {})

    eventually(lambda: _over_smsc(demo, since), "a first subscriber over the SMSC")
    assert _post(control + STOP_PATH) == {"running": False}
    eventually(lambda: _over_twilio(demo, since_epoch), "the rest over the Twilio route")
    assert _post(control + START_PATH) == {"running": True}
    found = eventually(lambda: _all_delivered(demo, alert["id"]), "every SMS delivered")

    assert _smsc_tally(demo, since).whole  # each message all its parts, none twice
    over_smsc, over_twilio = _over_smsc(demo, since), _over_twilio(demo, since_epoch)
    assert over_smsc and over_twilio
    assert sorted(over_smsc + over_twilio) == NUMBERS  # each subscriber exactly once
    assert sorted(item["address"] for item in found) == NUMBERS
    routes = {item["address"]: item["provider_id"].split(":", 1)[0] for item in found}
    assert routes == {**dict.fromkeys(over_smsc, "primary"), **dict.fromkeys(over_twilio, "rest")}
    # The audit log is the staff UI's page; its rows are read where the demo keeps them.
    with contextlib.closing(sqlite3.connect(demo.data_dir / "publisher.db")) as database:
        audited = database.execute("SELECT actor, reason FROM audit_log WHERE action = ?",
                                   (FAILOVER_ACTION,)).fetchall()
    # Each worker process notes its own first failover of the message.
    assert audited and all(actor == "system:sms-routes" and reason.startswith(
        "sent over route rest; passed over primary") for actor, reason in audited), audited
