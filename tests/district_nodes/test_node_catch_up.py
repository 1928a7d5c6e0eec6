"""A node that was down, or missed a push, fills its gap from the center's stream, exactly once."""

from __future__ import annotations

from collections import Counter

from publisher.sim.device_sim import DeviceSimulatorThread
from publisher.sim.led import LedBoardSimulator
from tests.district_nodes.node_support import (
    FakeCenter,
    NodeProcess,
    cancel_of,
    eventually,
    rainstorm,
    showing,
    shows_pushed,
)

OPERATOR = ("wang.fang", "correct horse battery")


def test_node_down_for_three_alerts_and_a_cancel_ends_in_the_right_state(
        node: NodeProcess, center: FakeCenter,
        boards: tuple[DeviceSimulatorThread[LedBoardSimulator], object]) -> None:
    node.add_user(*OPERATOR)
    first, second, third = rainstorm(1), rainstorm(2), rainstorm(3)
    for alert in (first, second, third, cancel_of(second, 1)):
        center.publish(alert)

    node.start()
    expected = sorted([first.identifier, third.identifier])
    eventually(lambda: all(sorted(shown) == expected for shown in showing(boards[0]).values()),
               "both boards showing the first and third alerts")
    states = {message["identifier"]: message["state"] for message in node.messages(OPERATOR)}
    assert states[first.identifier] == states[third.identifier] == "relayed"
    assert states[second.identifier] == "cancelled"
    assert [message["cursor"] for message in node.messages(OPERATOR)] == [1, 2, 3, 4]

    node.stop()
    node.start()
    eventually(lambda: len(center.fetches) >= 2, "the catch-up after the restart")
    assert center.fetches[-1][0] == "4"
    # Pushed once each, to each board, through both starts; the cancelled one never.
    assert Counter(shows_pushed(boards[0])) == Counter(
        {(device, identifier): 1 for device in ("led-110105-01", "led-110105-02")
         for identifier in expected})
    assert all(sorted(shown) == expected for shown in showing(boards[0]).values())


def test_heartbeat_naming_a_missed_message_fills_the_gap(
        node: NodeProcess, center: FakeCenter,
        boards: tuple[DeviceSimulatorThread[LedBoardSimulator], object]) -> None:
    node.start()
    pushed = rainstorm(1)
    assert node.push(center.publish(pushed)).body["ack"] == "accepted"
    missed = rainstorm(2)
    center.publish(missed)  # the push of this one never reached the node

    answer = node.heartbeat()

    assert answer.status == 200
    assert answer.body["node"] == "110105" and answer.body["missing"] == 1
    eventually(lambda: all(missed.identifier in shown for shown in showing(boards[0]).values()),
               "the missed alert on both boards")
    assert Counter(shows_pushed(boards[0]))[("led-110105-01", pushed.identifier)] == 1
    settled = eventually(lambda: (beat := node.heartbeat()).body["missing"] == 0 and beat,
                         "a heartbeat with nothing missing")
    assert settled.body["cursor"] == 2


def test_a_node_started_before_the_center_catches_up_once_it_answers(
        node: NodeProcess, center: FakeCenter,
        boards: tuple[DeviceSimulatorThread[LedBoardSimulator], object]) -> None:
    alert = rainstorm(1)
    center.publish(alert)
    center.unavailable = True
    node.start()
    eventually(lambda: len(center.fetches) >= 2, "the node asking the starting center again")
    assert node.log_text().count("center not reachable yet") == 1

    center.unavailable = False

    eventually(lambda: all(shown == [alert.identifier] for shown in showing(boards[0]).values()),
               "the alert on both boards once the center answers", deadline=60)
    assert "catch-up failed" not in node.log_text()
