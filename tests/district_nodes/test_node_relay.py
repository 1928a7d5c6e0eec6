"""A node as a real process: it proves, stores, relays, drops duplicates, clears, and reports."""

from __future__ import annotations

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

OPERATOR = ("li.na", "correct horse battery")


def test_tampered_signature_and_wrong_token_are_refused(
        node: NodeProcess, center: FakeCenter,
        boards: tuple[DeviceSimulatorThread[LedBoardSimulator], object]) -> None:
    node.add_user(*OPERATOR)
    node.start()
    signed = center.sign(rainstorm(1))
    tampered = signed.replace("100毫米".encode(), "10毫米".encode())
    assert tampered != signed

    refused = node.push(tampered)
    assert refused.status == 403
    assert refused.body["field"] == "signature"
    assert node.push(signed, token="not-the-center").status == 401
    assert node.messages(OPERATOR) == []
    assert boards[0].received() == []


def test_push_is_relayed_once_and_its_receipt_posted(
        node: NodeProcess, center: FakeCenter,
        boards: tuple[DeviceSimulatorThread[LedBoardSimulator], object]) -> None:
    node.start()
    alert = rainstorm(1)
    xml = center.sign(alert)

    first, again = node.push(xml), node.push(xml)

    assert first.status == again.status == 200
    assert first.body["ack"] == "accepted" and again.body["ack"] == "duplicate"
    assert first.body["identifier"] == alert.identifier and first.body["node"] == "110105"
    assert sorted(shows_pushed(boards[0])) == [("led-110105-01", alert.identifier),
                                              ("led-110105-02", alert.identifier)]
    assert showing(boards[0]) == {"led-110105-01": [alert.identifier],
                                  "led-110105-02": [alert.identifier]}
    receipt = eventually(
        lambda: (found := center.last_receipt(alert.identifier))
        and found["counts"]["led"]["delivered"] == 2 and found,
        "the receipt with both boards delivered")
    assert receipt["counts"]["led"] == {"delivered": 2, "failed": 0, "pending": 0}
    assert receipt["sent"] == first.body["sent"]


def test_cancel_clears_the_boards(
        node: NodeProcess, center: FakeCenter,
        boards: tuple[DeviceSimulatorThread[LedBoardSimulator], object]) -> None:
    node.start()
    alert = rainstorm(1)
    assert node.push(center.sign(alert)).body["ack"] == "accepted"
    assert showing(boards[0])["led-110105-01"] == [alert.identifier]

    cancel = cancel_of(alert, 1)
    assert node.push(center.sign(cancel)).body["ack"] == "accepted"

    assert showing(boards[0]) == {"led-110105-01": [], "led-110105-02": []}
    clears = [received.body for received in boards[0].received()
              if received.body["action"] == "clear"]
    assert len(clears) == 2 and all(body["references"] == [alert.identifier] for body in clears)
