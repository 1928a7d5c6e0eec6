"""Device acks at a node: a burst of them counted exactly, and an answered one never lost."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from publisher.sim.device_sim import DeviceSimulatorThread
from publisher.sim.led import LedBoardSimulator
from tests.district_nodes.node_support import (
    FakeCenter,
    NodeProcess,
    board_fleet,
    eventually,
    rainstorm,
)

OPERATOR = ("li.na", "correct horse battery")
BOARDS = 30
REPEATS = 4  # every board acks its delivery this many times, all at once
SILENT = 3600.0  # the boards never ack on their own: the test posts every ack
Boards = tuple[DeviceSimulatorThread[LedBoardSimulator], Path]


@pytest.fixture
def boards(tmp_path: Path) -> Iterator[Boards]:
    with board_fleet(tmp_path, BOARDS, ack_delay=SILENT) as fleet:
        yield fleet


def _tokens(devices_file: Path) -> dict[str, str]:
    return {entry["device_id"]: entry["token"]
            for entry in json.loads(devices_file.read_text(encoding="utf-8"))}


def _pushed(boards: Boards, identifier: str) -> list[tuple[str, str]]:
    """(board, delivery) of every show of the alert, once every board took one."""
    pushes = sorted((received.device_id, received.body["delivery"])
                    for received in boards[0].received()
                    if received.body["action"] == "show"
                    and received.body["identifier"] == identifier)
    return pushes if len(pushes) == BOARDS else []


def _pushed_to_every_board(node: NodeProcess, center: FakeCenter, boards: Boards) -> tuple[
        str, list[tuple[str, str]]]:
    node.add_user(*OPERATOR)
    node.start()
    alert = rainstorm(1)
    assert node.push(center.sign(alert)).body["ack"] == "accepted"
    return alert.identifier, eventually(lambda: _pushed(boards, alert.identifier),
                                        f"a show on each of the {BOARDS} boards")


def test_a_burst_of_acks_ends_in_exact_counts_and_one_final_receipt(
        node: NodeProcess, center: FakeCenter, boards: Boards) -> None:
    identifier, pushes = _pushed_to_every_board(node, center, boards)
    tokens = _tokens(boards[1])
    failing = {delivery for _, delivery in pushes[::5]}
    acks = [(device, delivery, "failed" if delivery in failing else "displaying")
            for device, delivery in pushes] * REPEATS
    (first_board, _), (_, second_delivery) = pushes[0], pushes[1]

    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(lambda ack: node.ack(ack[0], tokens[ack[0]], *ack[1:]).status,
                                acks))
    not_its_own = node.ack(first_board, tokens[first_board], second_delivery, "failed")

    assert answers == [200] * len(acks)
    assert not_its_own.status == 404
    expected = {"delivered": BOARDS - len(failing), "failed": len(failing), "pending": 0}
    [message] = node.messages(OPERATOR)
    assert message["counts"] == {"led": expected}
    eventually(lambda: (last := center.last_receipt(identifier))
               and last["counts"]["led"] == expected,
               "the receipt with every ack counted")
    time.sleep(1.5)  # longer than the outbox's pause: a receipt posted twice would be in by now
    counts = [receipt["counts"]["led"] for receipt in center.receipts_of(identifier)]
    assert counts[-1] == expected
    assert counts.count(expected) == 1
    settled = [entry["delivered"] + entry["failed"] for entry in counts]
    assert settled == sorted(settled), "a receipt with older counts came after a newer one"
    assert all(entry["delivered"] + entry["failed"] + entry["pending"] == BOARDS
               for entry in counts)


def test_an_ack_answered_200_is_kept_when_the_node_crashes(
        node: NodeProcess, center: FakeCenter, boards: Boards) -> None:
    identifier, pushes = _pushed_to_every_board(node, center, boards)
    device, delivery = pushes[0]

    assert node.ack(device, _tokens(boards[1])[device], delivery, "displaying").status == 200
    node.kill()
    node.start()

    [message] = node.messages(OPERATOR)
    assert message["counts"] == {"led": {"delivered": 1, "failed": 0, "pending": BOARDS - 1}}
    eventually(lambda: (last := center.last_receipt(identifier))
               and last["counts"]["led"]["delivered"] == 1,
               "the receipt owed with the ack, posted by the restarted node")
