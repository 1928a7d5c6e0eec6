"""``publisher demo`` with two SMS routes: the SMSC stops in the middle of an alert, the rest of
it goes over the Twilio-compatible route, and every subscriber is delivered exactly once.

The demo runs as a process, configured as ``make demo`` is (the SMSC route at its rate, the
Twilio simulator as its second route, the batch size it has), with its failover drill's
subscribers. The test sends the drill's alert, stops the SMSC through its control port once
part of the alert went over it, starts it again once the Twilio route carries the rest, and
reconciles the SMSC simulator's part log with the Twilio simulator's log and the alert's
deliveries and audit log.
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

from publisher.demo_sms import START_PATH, STOP_PATH, SmsTally, tally
from publisher.demo_sms_failover import DRILL_NUMBERS, TWILIO_LOG, drill_alert_content
from publisher.services.sms_failover_audit import FAILOVER_ACTION
from tests.e2e.demo_support import Demo, api, eventually, running_demo
from tests.e2e.serve_support import BIN

NUMBERS = sorted(DRILL_NUMBERS)
# Messages over the SMSC before it stops: well into the alert, far from its end.
BEFORE_THE_STOP = 20
PER_PAGE = 50


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


def _smsc_tally(demo: Demo, since: datetime) -> SmsTally:
    return tally(demo.data_dir / "smsc" / "smsc.sqlite3", NUMBERS, since)


def _over_smsc(demo: Demo, since: datetime) -> list[str]:
    return [f"+{message.destination_addr}" for message in _smsc_tally(demo, since).messages]


def _sms_counts(demo: Demo, alert_id: int) -> dict[str, int]:
    exported = demo.exported()
    summary = api(exported["URL"], exported["APPROVER_TOKEN"], "GET",
                  f"/api/alerts/{alert_id}/deliveries")
    [message] = summary["messages"]
    sms = message["channels"].get("sms", {"total": 0, "by_status": {}})
    return {"total": sms["total"], "delivered": sms["by_status"].get("delivered", 0)}


def _all_delivered(demo: Demo, alert_id: int) -> bool:
    counts = _sms_counts(demo, alert_id)
    return counts["total"] == counts["delivered"] == len(NUMBERS)


def _deliveries(demo: Demo, alert_id: int) -> list[dict[str, Any]]:
    """Every SMS delivery row of the alert, page by page, as the approver reads them."""
    exported = demo.exported()
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        found = api(exported["URL"], exported["APPROVER_TOKEN"], "GET",
                    f"/api/alerts/{alert_id}/deliveries?channel=sms&page={page}")
        items += found["items"]
        if len(found["items"]) < PER_PAGE:
            assert len(items) == found["total"]
            return items
        page += 1


def _undelivered(demo: Demo, alert_id: int) -> dict[tuple[str, str | None], int]:
    """How many deliveries are in each (status, note) other than delivered."""
    counts: dict[tuple[str, str | None], int] = {}
    for item in _deliveries(demo, alert_id):
        if item["status"] != "delivered":
            key = (item["status"], item["last_error"])
            counts[key] = counts.get(key, 0) + 1
    return counts


def test_the_smsc_stopped_mid_alert_moves_the_rest_to_the_twilio_route(demo: Demo) -> None:
    demo.line("Reconciliation")  # the walk-through's alert is done
    assert f"failover drill: {len(NUMBERS)} test subscribers" in demo.line("failover drill")
    control = demo.line(str(BIN / "publisher") + " sim mo").split("--control ", 1)[1].split()[0]
    exported = demo.exported()
    url, author, approver = exported["URL"], exported["AUTHOR_TOKEN"], exported["APPROVER_TOKEN"]
    since, since_epoch = datetime.now(UTC), datetime.now(UTC).timestamp()
    alert = api(url, author, "POST", "/api/alerts", drill_alert_content(datetime.now(UTC)))
    api(url, author, "POST", f"/api/alerts/{alert['id']}/submit")
    api(url, approver, "POST", f"/api/alerts/{alert['id']}/approve", {})

    eventually(lambda: len(_over_smsc(demo, since)) >= BEFORE_THE_STOP,
               f"{BEFORE_THE_STOP} subscribers over the SMSC")
    assert _post(control + STOP_PATH) == {"running": False}
    stopped_after = len(_over_smsc(demo, since))
    assert stopped_after < len(NUMBERS), "the alert was over before the SMSC stopped"
    eventually(lambda: _over_twilio(demo, since_epoch), "the rest over the Twilio route")
    assert _post(control + START_PATH) == {"running": True}
    try:
        eventually(lambda: _all_delivered(demo, alert["id"]), "every SMS delivered")
    except AssertionError as late:
        raise AssertionError(f"{late}; not delivered: {_undelivered(demo, alert['id'])}") from None

    over_smsc, over_twilio = _over_smsc(demo, since), _over_twilio(demo, since_epoch)
    found = _deliveries(demo, alert["id"])
    assert sorted(item["address"] for item in found) == NUMBERS
    assert all(item["status"] == "delivered" for item in found)
    assert len(over_smsc) >= stopped_after and over_twilio
    # Each subscriber over one route, once: the failover never sends a text twice.
    assert not set(over_smsc) & set(over_twilio), set(over_smsc) & set(over_twilio)
    assert set(over_smsc) | set(over_twilio) == set(NUMBERS)
    assert len(over_twilio) == len(set(over_twilio))
    # Each message whole, none twice over the SMSC but where a bind lost the SMSC's answer
    # as it went, submitted the part again and said so on the delivery row.
    admitted = {item["address"] for item in found if item["duplicates"]}
    messages = _smsc_tally(demo, since).messages
    assert all(message.complete for message in messages)
    repeated = {f"+{message.destination_addr}" for message in messages if message.duplicates}
    repeated |= {number for number in over_smsc if over_smsc.count(number) > 1}
    assert repeated <= admitted, (repeated, admitted)
    routes = {item["address"]: item["provider_id"].split(":", 1)[0] for item in found}
    assert routes == {**dict.fromkeys(over_smsc, "primary"), **dict.fromkeys(over_twilio, "rest")}
    # The segments the Twilio simulator reported, the parts sent over the SMSC.
    assert all(item["num_segments"] and item["num_segments"] >= 1 for item in found)
    assert all("failover: sent over route rest; passed over primary" in item["last_error"]
               for item in found if routes[item["address"]] == "rest")
    # The audit log is the staff UI's page; its rows are read where the demo keeps them.
    with contextlib.closing(sqlite3.connect(demo.data_dir / "publisher.db")) as database:
        audited = database.execute(
            "SELECT audit_log.actor, audit_log.reason FROM audit_log JOIN messages"
            " ON messages.id = audit_log.message_id WHERE audit_log.action = ?"
            " AND messages.alert_id = ?", (FAILOVER_ACTION, alert["id"])).fetchall()
    # One entry for the alert's failover, however many worker processes saw it.
    [(actor, reason)] = audited
    assert actor == "system:sms-routes"
    assert reason.startswith("sent over route rest; passed over primary"), reason
