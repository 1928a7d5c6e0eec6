"""``make demo``'s earthquake early warning: the printed command posts a signed warning as the
automatic sender, and every board and speaker switches to it, each district with its own
countdown, and the terminals ack it over the machine's Mosquitto; its dashboard shows the
timings."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest

from publisher.cap.districts import load_districts
from publisher.cap.eew import s_wave_seconds
from publisher.demo_devices import DEMO_FLEET
from publisher.demo_eew import QUAKE
from publisher.demo_terminals import TERMINALS
from tests.channels.device_support import CONFIG_DISTRICTS
from tests.e2e.demo_support import Demo, api, running_demo
from tests.e2e.serve_support import BIN, command_environment, free_port

DISTRICTS = {district.name_en: district for district in load_districts(CONFIG_DISTRICTS)}
BOARDS = sum(boards for _code, boards, _speakers in DEMO_FLEET)
SPEAKERS = sum(speakers for _code, _boards, speakers in DEMO_FLEET)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    ports = ["--led-port", str(free_port()), "--speaker-port", str(free_port()),
             "--speaker-playback-speed", "0"]
    with running_demo(tmp_path_factory.mktemp("demo"), devices=("led", "speaker", "mqtt"),
                      options=ports) as running:
        yield running


def test_the_printed_command_switches_every_board_and_speaker(demo: Demo) -> None:
    command = demo.following("Earthquake early warning: post one")
    assert command.startswith("publisher eew simulate --magnitude 6.1 --epicentre 40.3,116.2")
    assert demo.following("publisher eew simulate") == \
        f"terminals: {TERMINALS} simulated, acking over MQTT"
    posted = subprocess.run(["bash", "-c", command], env=command_environment(),
                            capture_output=True, text=True, timeout=120, check=False,
                            cwd=BIN.parent)
    assert posted.returncode == 0, posted.stderr
    assert '"status": "Exercise"' in posted.stdout

    line = demo.line("Earthquake early-warning reconciliation")
    assert "NOT all final" not in line, line
    first_acks = dict(re.findall(r"(\w+) ([\d,]+)(?:,|$)", line.split("publishing: ")[1]))
    assert {"led", "speaker"} <= set(first_acks), line
    alert_id = int(re.search(r"alert (\d+)", line).group(1))  # type: ignore[union-attr]
    block = demo.block("Earthquake early-warning reconciliation", "its dashboard:")
    districts = block[:len(DEMO_FLEET)]
    countdowns = {district.split(":")[0]: re.findall(r"countdown (\d+) s", district)
                  for district in districts}
    # Every board shows it alone with its district's countdown; every speaker played it.
    assert sum(len(found) for found in countdowns.values()) == BOARDS, districts
    for name, found in countdowns.items():
        centroid = DISTRICTS[name].geometry.centroid
        assert set(found) == {str(s_wave_seconds(QUAKE, centroid.y, centroid.x))}, districts
    assert sum(district.count("played it") for district in districts) == SPEAKERS, districts
    assert block[len(DEMO_FLEET):] == [f"terminals: {TERMINALS} of {TERMINALS} acked"], block

    exported = demo.exported()
    board = api(exported["URL"], exported["APPROVER_TOKEN"], "GET",
                f"/api/alerts/{alert_id}/dashboard")
    assert set(board["eew"]["first_ack_ms"]) >= {"led", "speaker"}
    # Published to the terminals from the request, before any delivery row.
    assert board["eew"]["terminals_started_ms"] > 0
