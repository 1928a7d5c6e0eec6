"""The LED board simulator on real sockets: what boards take and refuse, show and clear,
how they ack and beat, how they fail on purpose, and ``publisher sim led`` as a process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.sim.device_fleet import place_devices, read_tokens, write_device_list
from publisher.sim.device_sim import DeviceFault, DeviceSimConfig, DeviceSimulatorThread
from publisher.sim.led import LED_CAPABILITIES, LedBoardSimulator
from tests.channels.device_support import PlatformStub, districts, platform
from tests.integration.sms_support import eventually

__all__ = ["platform"]

BOARDS = place_devices("led", 3, districts("110105", "110108"), seed=5)
SCROLLING = {"rows": 1, "columns": 10, "scrolls": True}
IDENTIFIER = "110105-QXJ-20240720140000-0001"

Start = Callable[..., DeviceSimulatorThread[LedBoardSimulator]]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    running: list[DeviceSimulatorThread[LedBoardSimulator]] = []

    def started(devices: Any = BOARDS, **changes: Any) -> DeviceSimulatorThread[LedBoardSimulator]:
        config = DeviceSimConfig(**{"data_dir": tmp_path / "sim", "ack_delay": 0.05,
                                    "ack_retry_interval": 0.1, "seed": 3, **changes})
        handle = LedBoardSimulator(config, devices).start_in_thread()
        running.append(handle)
        return handle  # type: ignore[return-value]

    yield started
    for handle in running:
        handle.stop()


@pytest.fixture
def boards(start: Start) -> DeviceSimulatorThread[LedBoardSimulator]:
    return start()


def show(platform: PlatformStub, device_id: str = BOARDS[0].device_id,
         **changes: Any) -> dict[str, Any]:
    return {"delivery": "41", "action": "show", "identifier": IDENTIFIER, "references": [],
            "expires": (datetime.now(UTC) + timedelta(hours=6)).isoformat(),
            "ack_url": f"{platform.url}/api/devices/{device_id}/acks", "colour": "red",
            "pages": [["北京市气象台发布暴雨红色", "预警信号"], ["停止集会、停课、停业；远"]],
            "scroll": False, "page_seconds": 5, **changes}


def post(url: str, body: Any, timeout: float = 30) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def push(boards: DeviceSimulatorThread[LedBoardSimulator], body: Any,
         device_id: str = BOARDS[0].device_id, timeout: float = 30) -> tuple[int, dict[str, Any]]:
    return post(f"{boards.simulator.endpoint(device_id)}/messages", body, timeout)


def showing(boards: DeviceSimulatorThread[LedBoardSimulator],
            device_id: str = BOARDS[0].device_id) -> list[str]:
    return [shown["identifier"] for shown in boards.state(device_id)["showing"]]


def test_a_board_shows_a_push_and_acks_it_with_its_token(
        boards: DeviceSimulatorThread[LedBoardSimulator], platform: PlatformStub) -> None:
    assert push(boards, show(platform)) == (202, {"accepted": "41"})

    with urllib.request.urlopen(f"{boards.simulator.endpoint(BOARDS[0].device_id)}/state",
                                timeout=30) as response:
        state = json.loads(response.read())
    [shown] = state["showing"]
    assert (shown["identifier"], shown["colour"], shown["delivery"]) == \
        (IDENTIFIER, "red", "41")
    assert shown["pages"] == show(platform)["pages"]
    assert boards.state(BOARDS[1].device_id)["showing"] == []

    [ack] = eventually(platform.taken, "the board's ack")
    assert ack.device_id == BOARDS[0].device_id
    assert ack.authorization == f"Bearer {BOARDS[0].token}"
    assert (ack.body["delivery"], ack.body["state"]) == ("41", "displaying")
    assert datetime.fromisoformat(ack.body["at"]).utcoffset() is not None
    [sent] = eventually(boards.acks, "the ack recorded")
    assert (sent.status, sent.attempts) == (200, 1)


def test_everything_received_is_kept_and_logged(
        boards: DeviceSimulatorThread[LedBoardSimulator], platform: PlatformStub) -> None:
    push(boards, show(platform))
    push(boards, show(platform, delivery="42"), BOARDS[2].device_id)
    assert [(item.device_id, item.body["delivery"]) for item in boards.received()] == \
        [(BOARDS[0].device_id, "41"), (BOARDS[2].device_id, "42")]
    logged = [json.loads(line) for line in
              boards.simulator.log_path.read_text(encoding="utf-8").splitlines()]
    assert [(line["device_id"], line["message"]["pages"][0][0]) for line in logged] == \
        [(BOARDS[0].device_id, "北京市气象台发布暴雨红色"),
         (BOARDS[2].device_id, "北京市气象台发布暴雨红色")]


@pytest.mark.parametrize(("changes", "field"), [
    ({"pages": [["北京市气象台发布暴雨红色预", "信号"]]}, "pages[0][0]"),
    ({"pages": [["ok"], ["a", "b", "c"]]}, "pages[1]"),
    ({"pages": []}, "pages"),
    ({"pages": [[1]]}, "pages[0]"),
    ({"colour": "purple"}, "colour"),
    ({"scroll": True, "pages": [["one long line"]]}, "scroll"),
    ({"page_seconds": 0}, "page_seconds"),
    ({"delivery": ""}, "delivery"),
    ({"action": "play"}, "action"),
    ({"references": "x"}, "references"),
    ({"expires": "tomorrow"}, "expires"),
    ({"expires": "2024-07-20T20:00:00"}, "expires"),
    ({"ack_url": "mailto:x"}, "ack_url"),
    ({"action": "clear", "references": []}, "references"),
])
def test_a_push_the_board_cannot_use_is_refused_naming_the_field(
        boards: DeviceSimulatorThread[LedBoardSimulator], platform: PlatformStub,
        changes: dict[str, Any], field: str) -> None:
    status, answer = push(boards, show(platform, **changes))
    assert (status, answer["error"], answer["field"]) == (400, "invalid", field)
    assert boards.received() == []
    assert showing(boards) == []


def test_a_body_that_is_no_json_object_and_an_unknown_board_are_refused(
        boards: DeviceSimulatorThread[LedBoardSimulator]) -> None:
    assert push(boards, b"{")[0] == 400
    assert push(boards, [1, 2])[1]["field"] == "body"
    status, answer = push(boards, {}, device_id="led-999999-01")
    assert (status, answer["field"]) == (404, "device_id")


def test_an_exactly_full_row_fits(boards: DeviceSimulatorThread[LedBoardSimulator],
                                  platform: PlatformStub) -> None:
    full = show(platform, pages=[["北京市气象台发布暴雨红色", "abcdefghijklmnopqrstuvwx"]])
    assert push(boards, full)[0] == 202


def test_a_scrolling_board_takes_one_long_line(start: Start, platform: PlatformStub) -> None:
    [board] = place_devices("led", 1, districts("110105"), capabilities=SCROLLING)
    boards = start([board])
    line = "北京市气象台发布暴雨红色预警信号  停止集会、停课、停业；远离低洼地带和地下空间。"
    body = show(platform, board.device_id, scroll=True, pages=[[line]])
    assert push(boards, body, board.device_id)[0] == 202
    assert boards.state(board.device_id)["showing"][0]["pages"] == [[line]]
    status, answer = push(boards, {**body, "pages": [[line, "two rows"]]}, board.device_id)
    assert (status, answer["field"]) == (400, "pages")


def test_an_update_replaces_what_it_references_and_a_clear_takes_it_down(
        boards: DeviceSimulatorThread[LedBoardSimulator], platform: PlatformStub) -> None:
    push(boards, show(platform))
    push(boards, show(platform, delivery="50", identifier="other", colour="blue"))
    assert showing(boards) == [IDENTIFIER, "other"]

    update = show(platform, delivery="60", identifier="update-1", references=[IDENTIFIER],
                  colour="orange", pages=[["更新"]])
    assert push(boards, update)[0] == 202
    assert showing(boards) == ["other", "update-1"]
    assert boards.state(BOARDS[0].device_id)["showing"][1]["colour"] == "orange"

    # The same identifier again is replaced, never shown twice.
    push(boards, show(platform, delivery="61", identifier="update-1", pages=[["再次"]]))
    assert showing(boards) == ["other", "update-1"]

    clear = {"delivery": "70", "action": "clear", "identifier": "cancel-1",
             "references": ["update-1", "never-shown"], "expires": None,
             "ack_url": f"{platform.url}/api/devices/{BOARDS[0].device_id}/acks"}
    assert push(boards, clear) == (202, {"accepted": "70"})
    assert showing(boards) == ["other"]
    acks = eventually(lambda: [ack for ack in platform.taken() if ack.body["delivery"] == "70"],
                      "the clear's ack")
    assert acks[0].body["state"] == "cleared"


def test_a_message_leaves_the_board_at_its_expiry(
        boards: DeviceSimulatorThread[LedBoardSimulator], platform: PlatformStub) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1)
    push(boards, show(platform, expires=soon.isoformat()))
    push(boards, show(platform, delivery="43", identifier="lasting", expires=None))
    assert showing(boards) == [IDENTIFIER, "lasting"]
    eventually(lambda: showing(boards) == ["lasting"], "the expired message gone")
    assert datetime.now(UTC) >= soon


def test_a_fail_share_of_one_acks_every_push_failed(start: Start,
                                                    platform: PlatformStub) -> None:
    boards = start(fail_share=1.0)
    assert push(boards, show(platform))[0] == 202
    [ack] = eventually(platform.taken, "the failed ack")
    assert (ack.body["state"], ack.body["detail"]) == ("failed", "simulated failure")


def test_an_ack_the_platform_does_not_take_is_tried_again(
        start: Start, platform: PlatformStub) -> None:
    platform.answer = 503
    boards = start(ack_attempts=3)
    push(boards, show(platform))
    [sent] = eventually(boards.acks, "the ack given up")
    assert (sent.status, sent.attempts) == (503, 3)
    assert len(platform.taken()) == 3


def test_a_board_in_error_answers_500_and_a_dropping_one_cuts_the_connection(
        boards: DeviceSimulatorThread[LedBoardSimulator], platform: PlatformStub) -> None:
    boards.set_fault(DeviceFault.ERROR, [BOARDS[0].device_id])
    boards.set_fault(DeviceFault.DROP, [BOARDS[1].device_id])
    assert push(boards, show(platform))[0] == 500
    with pytest.raises((ConnectionError, urllib.error.URLError)):
        push(boards, show(platform, BOARDS[1].device_id), BOARDS[1].device_id)
    assert push(boards, show(platform, BOARDS[2].device_id), BOARDS[2].device_id)[0] == 202
    assert [item.device_id for item in boards.received()] == [BOARDS[2].device_id]

    boards.set_fault(DeviceFault.NONE, [BOARDS[0].device_id, BOARDS[1].device_id])
    assert push(boards, show(platform))[0] == 202


def test_a_dropping_simulator_refuses_connections_until_it_is_back(
        boards: DeviceSimulatorThread[LedBoardSimulator], platform: PlatformStub) -> None:
    boards.set_fault(DeviceFault.DROP)
    with pytest.raises(urllib.error.URLError) as caught:
        push(boards, show(platform))
    assert isinstance(caught.value.reason, ConnectionRefusedError)
    boards.set_fault(DeviceFault.NONE)
    assert push(boards, show(platform))[0] == 202


def test_an_offline_board_answers_nothing_and_acks_nothing(
        start: Start, platform: PlatformStub) -> None:
    boards = start(platform_url=platform.url, heartbeat_interval=0.2)
    eventually(lambda: {request.device_id for request in platform.taken("heartbeat")}
               == {board.device_id for board in BOARDS}, "a heartbeat from every board")
    boards.set_fault(DeviceFault.OFFLINE, [BOARDS[0].device_id])
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        push(boards, show(platform), timeout=1)
    before = len(platform.taken("heartbeat"))
    eventually(lambda: len(platform.taken("heartbeat")) >= before + 4, "more heartbeats")
    silent = [request for request in platform.taken("heartbeat")[before:]
              if request.device_id == BOARDS[0].device_id]
    assert silent == []
    assert boards.received() == []
    assert platform.taken() == []

    boards.set_fault(DeviceFault.NONE, [BOARDS[0].device_id])
    assert push(boards, show(platform))[0] == 202
    eventually(platform.taken, "the ack once back")


def test_heartbeats_name_what_a_board_shows(start: Start, platform: PlatformStub) -> None:
    boards = start(platform_url=platform.url, heartbeat_interval=0.2)
    push(boards, show(platform))
    beat = eventually(lambda: [request for request in platform.taken("heartbeat")
                               if request.device_id == BOARDS[0].device_id
                               and request.body["showing"] == [IDENTIFIER]],
                      "a heartbeat naming the alert")[0]
    assert beat.authorization == f"Bearer {BOARDS[0].token}"
    assert datetime.fromisoformat(beat.body["at"]).utcoffset() is not None


def test_devices_are_spread_over_their_districts_inside_each() -> None:
    chaoyang, haidian = districts("110105", "110108")
    devices = place_devices("led", 5, [chaoyang, haidian], seed=9, language="en-US",
                            capabilities={"rows": 3})
    assert [device.device_id for device in devices] == [
        "led-110105-01", "led-110108-01", "led-110105-02", "led-110108-02", "led-110105-03"]
    for device in devices:
        district = chaoyang if device.district_code == "110105" else haidian
        assert district.covers(device.lon, device.lat)
        assert (device.language, dict(device.capabilities)) == ("en-US", {"rows": 3})
    assert len({device.token for device in devices}) == 5
    assert len({(device.lon, device.lat) for device in devices}) == 5
    assert devices[0].token not in repr(devices[0])


def test_a_device_list_keeps_its_tokens_when_the_fleet_is_made_again(tmp_path: Path) -> None:
    path = tmp_path / "led-devices.json"
    assert read_tokens(path) == {}
    first = place_devices("led", 2, districts("110105"))
    write_device_list(path, first, "http://127.0.0.1:8701")
    [entry, _] = json.loads(path.read_text(encoding="utf-8"))
    assert entry == {"device_id": "led-110105-01", "kind": "led",
                     "endpoint": "http://127.0.0.1:8701/devices/led-110105-01",
                     "token": first[0].token, "district_code": "110105", "lon": first[0].lon,
                     "lat": first[0].lat, "language": "zh-CN", "capabilities": {}}
    again = place_devices("led", 3, districts("110105"), tokens=read_tokens(path))
    assert [device.token for device in again[:2]] == [device.token for device in first]
    assert again[2].token not in {device.token for device in first}


def test_the_board_list_answers_without_tokens(
        boards: DeviceSimulatorThread[LedBoardSimulator]) -> None:
    with urllib.request.urlopen(f"{boards.base_url}/devices", timeout=30) as response:
        listed = json.loads(response.read())
    assert [device["device_id"] for device in listed] == [board.device_id for board in BOARDS]
    assert all("token" not in device for device in listed)


def test_publisher_sim_led_runs_a_fleet(tmp_path: Path) -> None:
    devices_out = tmp_path / "boards.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "publisher.cli", "sim", "led", "--count", "4", "--port", "0",
         "--districts", "110105,110108", "--data-dir", str(tmp_path / "var"),
         "--devices-out", str(devices_out), "--capabilities", '{"rows": 3}'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("led simulator listening on 127.0.0.1:"), line
        listed = json.loads(devices_out.read_text(encoding="utf-8"))
        assert [device["district_code"] for device in listed] == \
            ["110105", "110108", "110105", "110108"]
        assert all(device["capabilities"] == {**LED_CAPABILITIES, "rows": 3} for device in listed)
        status, answer = post(f"{listed[1]['endpoint']}/messages", {
            "delivery": "1", "action": "show", "identifier": "x", "references": [],
            "expires": None, "ack_url": "http://127.0.0.1:9/acks", "colour": "yellow",
            "pages": [["一", "二", "三"]], "scroll": False, "page_seconds": 4})
        assert (status, answer) == (202, {"accepted": "1"})
        with urllib.request.urlopen(f"{listed[1]['endpoint']}/state", timeout=30) as response:
            assert json.loads(response.read())["showing"][0]["colour"] == "yellow"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert (tmp_path / "var" / "sim" / "led-received.jsonl").exists()


def test_an_unknown_district_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "publisher.cli", "sim", "led", "--districts", "119999",
         "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "--districts" in done.stderr


def test_a_port_that_is_taken_fails_the_start_and_leaves_nothing_open(
        boards: DeviceSimulatorThread[LedBoardSimulator], start: Start) -> None:
    with pytest.raises(OSError, match="address already in use"):
        start(port=boards.port)
    assert push(boards, {}, device_id="led-999999-01")[0] == 404
