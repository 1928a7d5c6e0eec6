"""`publisher serve` keeps everything on disk: a restart loses no alert, token, key or task.

The accounts are made with the commands an administrator uses
(`publisher user add`, `publisher token create`), and the alert goes
through the REST API.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from publisher.cap import load_certificates, verify_alert_xml
from publisher.cap.signing import SignatureOutcome
from tests.e2e.serve_support import Installation, free_port, serving
from tests.integration.lifecycle_support import content

DELIVERY_SECONDS = 30.0


def _request(installation: Installation, method: str, path: str, token: str | None = None,
             body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        installation.url + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw, status = response.read(), response.status
            kind = response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        raw, status, kind = error.read(), error.code, error.headers.get_content_type()
    return status, json.loads(raw) if kind == "application/json" else raw


def _staff(installation: Installation) -> dict[str, str]:
    tokens = {}
    for name, role in (("wang", "author"), ("li", "approver")):
        added = installation.publisher("user", "add", name, "--role", role,
                                       stdin="a long enough passphrase\n")
        assert f"user {name} added" in added
        tokens[name] = installation.publisher("token", "create", name).strip()
    return tokens


def _add_test_target(installation: Installation) -> None:
    # The same way the demo does it, so that the Exercise has somewhere to go.
    installation.publisher("demo", "--prepare-only", "--port", str(installation.port))


def _delivered(installation: Installation, token: str, alert_id: int) -> int:
    deadline = time.monotonic() + DELIVERY_SECONDS
    while time.monotonic() < deadline:
        status, summary = _request(installation, "GET", f"/api/alerts/{alert_id}/deliveries",
                                   token)
        assert status == 200, summary
        channels = summary["messages"][0]["channels"] if summary["messages"] else {}
        memory = channels.get("memory")
        if memory and memory["total"] and memory["by_status"]["delivered"] == memory["total"]:
            return int(memory["total"])
        time.sleep(0.3)
    raise AssertionError(f"alert {alert_id} was not delivered within {DELIVERY_SECONDS} s")


def test_state_survives_a_restart_and_queued_work_resumes(tmp_path: Path) -> None:
    installation = Installation(tmp_path / "data", free_port())
    tokens = _staff(installation)
    _add_test_target(installation)
    log = tmp_path / "serve.log"

    with serving(installation, log):
        status, created = _request(installation, "POST", "/api/alerts", tokens["wang"],
                                   content())
        assert status == 201, created
        first = created["id"]
        assert _request(installation, "POST", f"/api/alerts/{first}/submit",
                        tokens["wang"])[0] == 200
        status, approved = _request(installation, "POST", f"/api/alerts/{first}/approve",
                                    tokens["li"])
        assert status == 200, approved
        assert _delivered(installation, tokens["li"], first) == 2
        status, second = _request(installation, "POST", "/api/alerts", tokens["wang"],
                                  content())
        assert _request(installation, "POST", f"/api/alerts/{second['id']}/submit",
                        tokens["wang"])[0] == 200
    certificate = (installation.data_dir / "keys" / "cert.pem").read_bytes()

    # The web app alone, no worker: approval queues the fan-out on the
    # embedded broker, on disk, and nothing is delivered yet.
    with serving(installation, log, "web"):
        status, approved = _request(installation, "POST",
                                    f"/api/alerts/{second['id']}/approve", tokens["li"])
        assert status == 200, approved
        assert approved["fanout"] == "enqueued"

    with serving(installation, log):
        # Tokens, alerts and messages are still there.
        status, listed = _request(installation, "GET", "/api/alerts?state=published",
                                  tokens["li"])
        assert status == 200, listed
        assert {alert["id"] for alert in listed["alerts"]} == {first, second["id"]}
        # The worker found the queued fan-out on the broker and finished it.
        assert _delivered(installation, tokens["li"], second["id"]) == 2
        # The center kept its key: what it signed before verifies with the same certificate.
        status, xml = _request(installation, "GET", f"/alerts/{first}.cap")
        trusted = load_certificates([installation.data_dir / "keys" / "cert.pem"])
        assert verify_alert_xml(xml, trusted).outcome is SignatureOutcome.VALID
    assert (installation.data_dir / "keys" / "cert.pem").read_bytes() == certificate
