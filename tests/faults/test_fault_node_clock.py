"""The wall clock of a district node jumps an hour forward, then the hour back.

The node runs as a process under libfaketime, its offset read from a file
the case rewrites (``FAKETIME_TIMESTAMP_FILE``); the monotonic clock is left
alone, as an NTP step leaves it. Between the jumps the center pushes alerts
(in force for six hours), pushes one again, cancels one, sends heartbeats,
and leaves one to be caught up from its stream. The node must relay and ack
each message exactly once, answer every heartbeat, expire nothing in force,
and catch up the one it missed.
"""

from __future__ import annotations

import shutil
from collections import Counter
from functools import partial
from pathlib import Path

import pytest

from publisher.sim.device_sim import DeviceSimulatorThread
from publisher.sim.led import LedBoardSimulator
from tests.district_nodes.node_support import (
    FakeCenter,
    NodeProcess,
    boards,
    cancel_of,
    center,
    eventually,
    node,
    rainstorm,
    showing,
    shows_pushed,
)
from tests.faults.case_support import skip_or_fail

__all__ = ["boards", "center", "node"]

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
OPERATOR = ("zhao.lei", "correct horse battery")
BOARDS = ("led-110105-01", "led-110105-02")


def _under_faketime(monkeypatch: pytest.MonkeyPatch, node: NodeProcess, clock: Path) -> None:
    """Start ``node`` with its wall clock offset by what ``clock`` says, re-read at every call."""
    if shutil.which("faketime") is None or not LIBFAKETIME.exists():
        skip_or_fail("libfaketime is not installed (Debian's faketime package)")
    clock.write_text("+0\n")
    with monkeypatch.context() as patched:
        patched.setenv("LD_PRELOAD", str(LIBFAKETIME))
        patched.setenv("FAKETIME_TIMESTAMP_FILE", str(clock))
        patched.setenv("FAKETIME_NO_CACHE", "1")
        # An NTP step moves the wall clock only; timers keep their monotonic pace.
        patched.setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        node.start()


def _held(node: NodeProcess, xml: bytes) -> None:
    """Push ``xml``; the node holds it. "duplicate" is as good as "accepted" here: a catch-up
    that a heartbeat started may read the message from the stream before its push lands."""
    answer = node.push(xml)
    assert answer.status == 200 and answer.body["ack"] in ("accepted", "duplicate"), answer


def _all_delivered(center: FakeCenter, identifier: str) -> bool:
    """Whether the node's last receipt of ``identifier`` counts every board delivered."""
    receipt = center.last_receipt(identifier) or {}
    return bool(receipt.get("counts", {}).get("led", {}).get("delivered") == len(BOARDS))


def _heartbeat_answered(node: NodeProcess, missing: int) -> None:
    answer = node.heartbeat()
    assert answer.status == 200 and answer.body["missing"] == missing, answer


def test_clock_jumps_forward_and_back_relaying_each_alert_once(
        node: NodeProcess, center: FakeCenter,
        boards: tuple[DeviceSimulatorThread[LedBoardSimulator], Path],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    simulator = boards[0]
    clock = tmp_path / "node-clock"
    node.add_user(*OPERATOR)
    _under_faketime(monkeypatch, node, clock)
    first, second, third, missed = (rainstorm(sequence) for sequence in (1, 2, 3, 4))

    _held(node, center.publish(first))
    clock.write_text("+1h\n")
    _heartbeat_answered(node, missing=0)
    _held(node, center.publish(second))
    # The center's retry of a push it thinks lost: acked, relayed no more.
    assert node.push(center.sign(first)).body["ack"] == "duplicate"

    # Back the hour: the node's clock now reads earlier than when it took the second.
    clock.write_text("+0\n")
    _heartbeat_answered(node, missing=0)
    _held(node, center.publish(third))
    _held(node, center.publish(cancel_of(second, 1)))
    center.publish(missed)  # its push never reached the node
    answer = node.heartbeat()
    assert answer.status == 200 and answer.body["missing"] >= 1, answer

    expected = sorted(alert.identifier for alert in (first, third, missed))
    eventually(lambda: all(sorted(shown) == expected for shown in showing(simulator).values()),
               f"both boards showing {expected}")
    _heartbeat_answered(node, missing=0)

    states = {message["identifier"]: message["state"] for message in node.messages(OPERATOR)}
    assert states == {first.identifier: "relayed", second.identifier: "cancelled",
                      third.identifier: "relayed", missed.identifier: "relayed",
                      f"{second.identifier}-C1": "relayed"}, states
    shown_once = {(board, alert.identifier): 1 for board in BOARDS
                  for alert in (first, second, third, missed)}
    assert Counter(shows_pushed(simulator)) == shown_once
    for alert in (first, third, missed):
        eventually(partial(_all_delivered, center, alert.identifier),
                   f"the receipt of {alert.identifier}")
    assert "Traceback" not in node.log_text(), node.log_text()[-3000:]
