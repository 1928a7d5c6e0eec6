"""``publisher demo`` with boards and speakers: a red rainstorm warning for Chaoyang, then
its Cancel.

One demo process for the module (its start is slow), with the device
channels configured and the speakers playing at once (playback speed 0).
The boards and speakers are read over their simulators' HTTP state routes,
the deliveries over the REST API with the demo's tokens, and the pages each
board shows are held against the layout the LED channel makes for that
board from the published CAP message.
"""

from __future__ import annotations

import io
import re
import signal
import urllib.request
import wave
from collections.abc import Iterator
from typing import Any

import pytest

from publisher.cap.model import Alert
from publisher.cap.reader import read_alert
from publisher.channels.attention_tone import attention_tone
from publisher.channels.led_layout import text_width
from publisher.channels.led_text import Board, read_board, render_board
from publisher.demo_device_report import repeats_after_tone
from publisher.demo_device_walkthrough import CANCEL_REASON, CHAOYANG
from publisher.demo_devices import DEMO_FLEET
from tests.e2e.demo_support import STOP_SECONDS, Demo, api, get_json, running_demo
from tests.e2e.serve_support import free_port

DEVICE_KINDS = ("led", "speaker")
CHAOYANG_BOARDS, CHAOYANG_SPEAKERS = next((boards, speakers) for code, boards, speakers
                                          in DEMO_FLEET if code == CHAOYANG)
REPEAT = 3


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    ports = ["--led-port", str(free_port()), "--speaker-port", str(free_port()),
             "--speaker-playback-speed", "0"]
    with running_demo(tmp_path_factory.mktemp("demo"), devices=DEVICE_KINDS,
                      options=ports) as running:
        yield running


def _simulator(demo: Demo, kind: str) -> str:
    """The simulator's base URL, from the state URL the demo prints."""
    label = "board states:" if kind == "led" else "speaker states:"
    match = re.search(r"curl -s (http://[^/]+)/devices/", demo.line(label))
    assert match, demo.line(label)
    return match.group(1)


def _devices(demo: Demo, kind: str) -> list[dict[str, Any]]:
    base = _simulator(demo, kind)
    devices: list[dict[str, Any]] = get_json(f"{base}/devices")
    for device in devices:
        device["state"] = get_json(f"{device['endpoint']}/state")
    return devices


def _alert(demo: Demo) -> tuple[int, Alert]:
    line = demo.line("Device walk-through: alert")
    alert_id = int(re.search(r"alert (\d+) ", line).group(1))  # type: ignore[union-attr]
    with urllib.request.urlopen(f"{demo.exported()['URL']}/alerts/{alert_id}.cap",
                                timeout=30) as response:
        alert = read_alert(response.read()).alert
    assert alert is not None
    return alert_id, alert


def _deliveries(demo: Demo, alert_id: int, channel: str) -> list[dict[str, Any]]:
    exported = demo.exported()
    page = api(exported["URL"], exported["APPROVER_TOKEN"], "GET",
               f"/api/alerts/{alert_id}/deliveries?channel={channel}&page=1")
    assert page["total"] == len(page["items"])
    return list(page["items"])


def _check_pages(board: dict[str, Any], shown: dict[str, Any], alert: Alert) -> None:
    layout = read_board(board["capabilities"], Board())
    expected = render_board(alert, board["language"], layout)
    assert shown["pages"] == [list(page.rows) for page in expected.pages], board["device_id"]
    assert len(shown["pages"]) > 1, "the warning does not fit one page of any demo board"
    for page in shown["pages"]:
        assert len(page) <= layout.rows
        assert all(text_width(row) <= 2 * board["capabilities"]["columns"] for row in page)


def test_chaoyang_boards_show_it_in_red_paged_to_fit_and_its_speakers_play_it_three_times(
        demo: Demo) -> None:
    alert_id, alert = _alert(demo)
    assert re.fullmatch(
        r"Device reconciliation: boards showing it in red, paged to fit each board"
        r" \(\d+/\d+/\d+ pages\): 3 of 3 in Chaoyang, 0 of 3 elsewhere; pages drawn in .+;"
        r" speakers that played the attention tone, then the message 3 times"
        r" \([\d.]+ s\): 2 of 2 in Chaoyang, 0 of 2 elsewhere",
        demo.line("Device reconciliation")), demo.line("Device reconciliation")
    assert demo.following("Device reconciliation") == \
        "deliveries: led 3 delivered; speaker 2 delivered; acks: displaying 3, played 2"

    boards = _devices(demo, "led")
    chaoyang = [board for board in boards if board["district_code"] == CHAOYANG]
    assert len(chaoyang) == CHAOYANG_BOARDS and len(boards) > len(chaoyang)
    for board in boards:
        showing = board["state"]["showing"]
        if board["district_code"] != CHAOYANG:
            assert showing == [], board
            continue
        [shown] = showing
        assert (shown["identifier"], shown["colour"]) == (alert.identifier, "red")
        _check_pages(board, shown, alert)
    assert len({board["capabilities"]["columns"] for board in chaoyang}) > 1

    speakers = _devices(demo, "speaker")
    heard = {}
    for speaker in speakers:
        played = speaker["state"]["played"]
        if speaker["district_code"] != CHAOYANG:
            assert played == [], speaker
            continue
        [announcement] = played
        assert (announcement["identifier"], announcement["action"], announcement["repeat"],
                announcement["interrupted_by"]) == (alert.identifier, "play", REPEAT, None)
        with urllib.request.urlopen(announcement["audio_url"], timeout=30) as response:
            heard[announcement["audio_url"]] = response.read()
    assert len([speaker for speaker in speakers if speaker["district_code"] == CHAOYANG]) == \
        CHAOYANG_SPEAKERS
    [audio] = heard.values()  # one synthesis for every speaker of the language
    with wave.open(io.BytesIO(audio), "rb") as reader:
        rate = reader.getframerate()
        assert reader.readframes(reader.getnframes()).startswith(attention_tone(rate))
    assert repeats_after_tone(audio) == REPEAT

    endpoints = {device["endpoint"] for device in chaoyang}
    led = _deliveries(demo, alert_id, "led")
    assert {item["address"] for item in led} == endpoints
    speaker_endpoints = {device["endpoint"] for device in speakers
                         if device["district_code"] == CHAOYANG}
    sound = _deliveries(demo, alert_id, "speaker")
    assert {item["address"] for item in sound} == speaker_endpoints
    for item in led + sound:
        assert item["status"] == "delivered" and item["provider_id"] == str(item["id"]), item
        assert item["receipts"]["count"] == 1 and item["receipts"]["last_status"] == "delivered"


def test_a_cancel_clears_the_boards_stops_the_speakers_and_the_summary_shows_it(
        demo: Demo) -> None:
    alert_id, alert = _alert(demo)
    demo.line("Ctrl-C stops everything.")
    exported = demo.exported()
    cancelled = api(exported["URL"], exported["APPROVER_TOKEN"], "POST",
                    f"/api/alerts/{alert_id}/cancel", {"reason": CANCEL_REASON})
    cancel = cancelled["message"]
    line = demo.line("Cancel reconciliation")
    assert line == (f"Cancel reconciliation: alert {alert_id} cancelled by"
                    f" {cancel['identifier']}; boards still showing it: 0 of 3 in Chaoyang,"
                    " 0 of 3 elsewhere; speakers stopped, the all-clear played: 2 of 2 in"
                    " Chaoyang, 0 of 2 elsewhere")
    assert demo.following("Cancel reconciliation") == ("deliveries of the Cancel: led 3"
                                                       " delivered; speaker 2 delivered;"
                                                       " acks: cleared 3, stopped 2")

    assert all(board["state"]["showing"] == [] for board in _devices(demo, "led"))
    for speaker in _devices(demo, "speaker"):
        if speaker["district_code"] == CHAOYANG:
            assert speaker["state"]["stopped"] == [alert.identifier]
            assert [(each["identifier"], each["action"]) for each in speaker["state"]["played"]
                    ][-1] == (cancel["identifier"], "stop")
    summary = api(exported["URL"], exported["APPROVER_TOKEN"], "GET",
                  f"/api/alerts/{alert_id}/deliveries")
    first, second = summary["messages"]
    assert (first["msg_type"], second["msg_type"]) == ("Alert", "Cancel")
    for message in (first, second):
        for channel, count in (("led", CHAOYANG_BOARDS), ("speaker", CHAOYANG_SPEAKERS)):
            counted = message["channels"][channel]
            assert counted["total"] == counted["by_status"]["delivered"] == count, channel

    # Ctrl-C stops everything, the simulators and the worker with them.
    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(STOP_SECONDS) == 0
    assert "worker stopped exit_code=0" in demo.log.read_text()
