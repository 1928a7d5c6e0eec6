"""A whole demo run with JSON logs: every process's lines name their alert, and hold no secret.

The demo runs with SMS over two routes (SMPP and the Twilio-compatible
REST route), the feed and WeChat, and the district nodes, with
``PUBLISHER_LOG_FORMAT=json``; its walk-throughs publish, and the test
publishes one more alert through the API with the demo's tokens and reads
``/metrics`` and ``/health``. Every line written to stderr by the web
application, the worker, the simulators and the nodes is then searched for
the configured passwords and tokens, the demo users' passwords and API
tokens, and the credentials the demo keeps on disk (the nodes', the
agencies').
"""

from __future__ import annotations

import json
import signal
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from publisher.demo_walkthrough import demo_alert_content
from tests.e2e.demo_support import (
    CONFIGURED_SECRETS,
    STOP_SECONDS,
    Demo,
    api,
    deliveries,
    eventually,
    running_demo,
)

# Files the demo keeps its own credentials in, under its data directory.
CREDENTIAL_FILE_NAMES = ("credential", "center_token")
CREDENTIAL_FILE_SUFFIX = "credentials.json"
# Shorter strings could occur in a log line by chance.
MIN_SECRET_LENGTH = 8


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    with running_demo(tmp_path, public=True, nodes=True, failover=True,
                      environment={"PUBLISHER_LOG_FORMAT": "json"}) as running:
        yield running


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, str):
        yield value


def _kept_on_disk(data_dir: Path) -> set[str]:
    found: set[str] = set()
    for path in data_dir.rglob("*"):
        if path.name in CREDENTIAL_FILE_NAMES:
            found.add(path.read_text(encoding="utf-8").strip())
        elif path.name.endswith(CREDENTIAL_FILE_SUFFIX):
            found.update(_leaves(json.loads(path.read_text(encoding="utf-8"))))
    return found


def _printed(demo: Demo) -> set[str]:
    """The users' passwords and tokens the demo prints for its reader (stdout, not a log)."""
    passwords = {line.split(" password ", 1)[1].strip() for line in demo.lines
                 if " password " in line and line.startswith("  ")}
    tokens = {value for name, value in demo.exported().items() if name.endswith("TOKEN")}
    return passwords | tokens


def _all_final(demo: Demo, alert_id: int) -> bool:
    items = deliveries(demo, alert_id, "sms")
    return bool(items) and all(item["status"] in ("delivered", "failed") for item in items)


def _read(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


def test_a_whole_run_logs_json_that_names_alerts_and_holds_no_secret(demo: Demo) -> None:
    demo.line("Reconciliation")  # the SMS walk-through's alert is done
    exported = demo.exported()
    url, author, approver = exported["URL"], exported["AUTHOR_TOKEN"], exported["APPROVER_TOKEN"]
    alert = api(url, author, "POST", "/api/alerts", demo_alert_content(datetime.now(UTC)))
    api(url, author, "POST", f"/api/alerts/{alert['id']}/submit")
    api(url, approver, "POST", f"/api/alerts/{alert['id']}/approve", {})
    eventually(lambda: _all_final(demo, alert["id"]), "the API's alert is sent by SMS")
    assert "publisher_deliveries{" in _read(f"{url}/metrics")
    assert json.loads(_read(f"{url}/health/ready"))["status"] == "ok"
    secrets = {*CONFIGURED_SECRETS, *_printed(demo), *_kept_on_disk(demo.data_dir)}
    secrets = {secret for secret in secrets if len(secret) >= MIN_SECRET_LENGTH}
    assert len(secrets) >= len(CONFIGURED_SECRETS) + 6, secrets

    demo.process.send_signal(signal.SIGINT)  # Ctrl-C: every process logs its stop
    assert demo.process.wait(STOP_SECONDS) == 0
    log = demo.log.read_text(encoding="utf-8")
    leaked = sorted(secret for secret in secrets if secret in log)
    assert not leaked, f"secrets in the logs: {leaked}"

    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert len(records) > 50
    assert all({"timestamp", "level", "logger", "event"} <= set(record) for record in records)
    batches = [record for record in records if record["event"] == "batch handed over"]
    assert batches and all(record["alert_identifier"] and record["delivery_ids"]
                           for record in batches)
    # A worker taking a fan-out or a batch off the broker names its alert too.
    taken = [record for record in records if record["event"].startswith(
        ("Task publisher.fanout[", "Task publisher.send_batch[")) and
        record["event"].endswith("] received")]
    assert taken and [record for record in taken if not record.get("alert_identifier")] == []
    assert any(record.get("alert_id") == str(alert["id"]) and record.get("method") == "POST"
               for record in records)
