"""``publisher demo`` as a user runs it: an alert by SMS to four subscribers, a TD, the next alert.

The demo runs as a process on a fresh data directory and free ports; the
test reads what it prints, asks the REST API with the demo's tokens (the
deliveries, their parts and the receipts correlated with them), and reads
the simulator's part log for what went over the wire.
"""

from __future__ import annotations

import re
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from publisher.cap.reader import read_alert
from publisher.channels.sms_encoding import DATA_CODING_UCS2, decode_short_message
from publisher.channels.sms_text import render_sms
from publisher.demo_sms import DEMO_SUBSCRIBERS
from publisher.demo_walkthrough import demo_alert_content
from publisher.sim.smsc_state import PartLog, ReassembledMessage
from publisher.store.models import DeliveryStatus
from tests.e2e.demo_support import STOP_SECONDS, Demo, api, eventually, running_demo
from tests.e2e.serve_support import BIN, command_environment

LANGUAGES = {number: language for _, language, numbers in DEMO_SUBSCRIBERS
             for number in numbers}
STOPPING = "+8613800000101"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    with running_demo(tmp_path) as running:
        yield running


def _messages(demo: Demo, since: datetime) -> list[ReassembledMessage]:
    log = PartLog(demo.data_dir / "smsc" / "smsc.sqlite3")
    try:
        return [message for message in log.reassembled_messages()
                if message.parts[0].accepted_at >= since]
    finally:
        log.close()


def _sms_deliveries(exported: dict[str, str], alert_id: int) -> list[dict[str, Any]]:
    page = api(exported["URL"], exported["APPROVER_TOKEN"], "GET",
               f"/api/alerts/{alert_id}/deliveries?channel=sms&page=1")
    assert page["total"] == len(page["items"])
    return list(page["items"])


def _final(exported: dict[str, str], alert_id: int) -> list[dict[str, Any]]:
    items = _sms_deliveries(exported, alert_id)
    final = all(DeliveryStatus(item["status"]).is_final for item in items)
    return items if items and final else []


def _text(message: ReassembledMessage) -> str:
    first = next(part for part in message.parts if (part.sequence or 1) == 1)
    return decode_short_message(first.data_coding, 0, message.octets)


def _expected_texts(url: str, alert_id: int) -> dict[str, str]:
    with urllib.request.urlopen(f"{url}/alerts/{alert_id}.cap", timeout=30) as response:
        alert = read_alert(response.read()).alert
    assert alert is not None
    return {language: render_sms(alert, str(alert.msg_type), language)
            for language in set(LANGUAGES.values())}


def _check_receipts(deliveries: list[dict[str, Any]],
                    messages: dict[str, ReassembledMessage]) -> None:
    """Each delivery's parts are its parts in the log, each moved to delivered by its receipt."""
    for item in deliveries:
        message, parts = messages[item["address"]], item["parts"]
        assert [part["part_number"] for part in parts] == list(range(1, message.total + 1))
        assert {part["status"] for part in parts} == {"delivered"}, item
        assert all(part["final_at"] and "DELIVRD" in part["detail"] for part in parts), item
        # A part becomes delivered only by a receipt: one receipt a part, none more.
        assert item["receipts"]["count"] == len(parts), item
        assert item["receipts"]["last_status"] == "delivered" and item["receipts"]["last_at"]
        assert item["duplicates"] == 0 and item["provider_id"] == parts[0]["provider_id"]
        # Provider ids are the route's name and the SMSC's id.
        stored = {part["provider_id"].split(":", 1)[1] for part in parts}
        assert stored == {part.message_id for part in message.parts}, item


def _check_first_alert(demo: Demo, exported: dict[str, str], alert_id: int,
                       since: datetime) -> None:
    reconciliation = demo.line("Reconciliation")
    assert re.fullmatch(r"Reconciliation: 4 subscribers, 4 messages in the simulator log"
                        r" \(\d+ parts, each whole, none twice\), 4 delivered", reconciliation)
    deliveries = eventually(lambda: _final(exported, alert_id), "the SMS deliveries are final")
    assert sorted(item["address"] for item in deliveries) == sorted(LANGUAGES)
    assert {item["status"] for item in deliveries} == {"delivered"}
    assert all(item["provider_id"] for item in deliveries)
    messages = _messages(demo, since)
    by_number = {f"+{message.destination_addr}": message for message in messages}
    assert len(messages) == len(by_number) == len(LANGUAGES), messages
    expected = _expected_texts(exported["URL"], alert_id)
    for number, language in LANGUAGES.items():
        message = by_number[number]
        assert message.complete and not message.duplicates, number
        assert _text(message) == expected[language], number
        if language == "zh-CN":
            assert message.total > 1 and message.parts[0].data_coding == DATA_CODING_UCS2
            assert len({part.reference for part in message.parts}) == 1
        else:
            assert message.parts[0].data_coding == 0 and _text(message).isascii()
    _check_receipts(deliveries, by_number)


def _send_mo(control: str, number: str, text: str) -> None:
    done = subprocess.run(
        [str(BIN / "publisher"), "sim", "mo", "--control", control,
         "--from", number.removeprefix("+"), text],
        capture_output=True, text=True, timeout=120, env=command_environment(), check=False)
    assert done.returncode == 0, done.stderr


def _publish(exported: dict[str, str]) -> int:
    url, author, approver = exported["URL"], exported["AUTHOR_TOKEN"], exported["APPROVER_TOKEN"]
    alert = api(url, author, "POST", "/api/alerts", demo_alert_content(datetime.now(UTC)))
    api(url, author, "POST", f"/api/alerts/{alert['id']}/submit")
    api(url, approver, "POST", f"/api/alerts/{alert['id']}/approve", {})
    return int(alert["id"])


def test_the_demo_sends_by_sms_and_a_td_stops_the_next_alert(demo: Demo) -> None:
    started = datetime.now(UTC)
    walkthrough = demo.line("SMS walk-through: alert")
    alert_id = int(re.search(r"alert (\d+) ", walkthrough).group(1))  # type: ignore[union-attr]
    exported = demo.exported()
    _check_first_alert(demo, exported, alert_id, started)
    mo_example = demo.line(str(BIN / "publisher") + " sim mo")
    control = mo_example.split("--control ", 1)[1].split()[0]

    before_td = datetime.now(UTC)
    _send_mo(control, STOPPING, "TD")
    confirmation = eventually(
        lambda: [message for message in _messages(demo, before_td)
                 if message.destination_addr == STOPPING.removeprefix("+")],
        "the confirmation of TD")
    assert len(confirmation) == 1 and "退订" in _text(confirmation[0])

    before_second = datetime.now(UTC)
    second = _publish(exported)
    deliveries = eventually(lambda: _final(exported, second), "the second alert's SMS")
    others = sorted(number for number in LANGUAGES if number != STOPPING)
    assert sorted(item["address"] for item in deliveries) == others
    assert {item["status"] for item in deliveries} == {"delivered"}
    received = sorted(f"+{message.destination_addr}"
                      for message in _messages(demo, before_second))
    assert received == others

    # Ctrl-C stops everything: the web app, the worker (its binds unbound), the simulator.
    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(STOP_SECONDS) == 0
    log = demo.log.read_text()
    assert "worker stopped exit_code=0" in log and "sms inbound pump stopped" in log
