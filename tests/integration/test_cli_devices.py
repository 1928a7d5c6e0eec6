"""``publisher device add|list|remove|import`` on a fresh installation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from publisher.cap.districts import load_districts
from publisher.cli import main
from publisher.cli_errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from publisher.config import load_paths, load_settings
from publisher.sim.device_fleet import place_devices, write_device_list
from publisher.store.db import make_engine, make_session_factory, session_scope
from publisher.store.models import Device, Target

BOARD = ["--kind", "led", "--endpoint", "http://127.0.0.1:8700/devices/led-110105-01",
         "--district", "朝阳", "--lon", "116.50", "--lat", "39.95"]


def _run(capsys: pytest.CaptureFixture[str], data_dir: Path, *arguments: str
         ) -> tuple[int, str, str]:
    code = main([*arguments, "--data-dir", str(data_dir)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _devices(data_dir: Path) -> dict[str, tuple[str, str, bool]]:
    engine = make_engine(load_settings({}, data_dir=data_dir).database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return {device_id: (address, digest or "", active) for device_id, address, digest,
                    active in session.execute(select(Device.device_id, Target.address,
                                                     Device.token_sha256, Target.active)
                                              .join(Target, Target.id == Device.target_id))}
    finally:
        engine.dispose()


def test_add_prints_the_token_alone_and_list_shows_the_device(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = _run(capsys, tmp_path, "device", "add", "led-110105-01", *BOARD,
                          "--rows", "3", "--colour", "red", "--colour", "yellow", "--test")
    assert code == EXIT_OK, err
    token = out.strip()
    assert token.startswith("dev_") and "\n" not in token
    assert "led device led-110105-01 added in 110105" in err
    assert _devices(tmp_path)["led-110105-01"][1] == hashlib.sha256(token.encode()).hexdigest()

    code, out, _ = _run(capsys, tmp_path, "device", "list")
    assert code == EXIT_OK
    header, row = out.splitlines()
    assert header.split() == ["DEVICE", "KIND", "DISTRICT", "HEALTH", "LAST", "SEEN", "TEST",
                              "ENDPOINT"]
    assert row.split() == ["led-110105-01", "led", "110105", "never", "seen", "-", "yes",
                           "http://127.0.0.1:8700/devices/led-110105-01"]
    code, out, _ = _run(capsys, tmp_path, "device", "list", "--offline")
    assert out.splitlines()[1:] == []


@pytest.mark.parametrize(("changes", "message"), [
    (["--district", "1101O5"], "publisher: --district: unknown district '1101O5'; did you mean"),
    (["--lat", "116.5"], "publisher: --lat: 116.5 is not between -90 and 90 degrees"),
    (["--volume", "50"], "publisher: --volume: unknown for led devices"),
    (["--rows", "0"], "publisher: --rows: must be at least 1, not 0"),
    (["--endpoint", "boards.example/1"], "publisher: --endpoint: 'boards.example/1': must be"),
])
def test_a_wrong_option_is_named_and_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                             changes: list[str], message: str) -> None:
    code, out, err = _run(capsys, tmp_path, "device", "add", "led-110105-01", *BOARD, *changes)
    assert (code, out) == (EXIT_INVALID, "")
    assert err.startswith(message), err
    assert _devices(tmp_path) == {}


def test_remove_keeps_the_target_and_an_unknown_device_exits_1(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _run(capsys, tmp_path, "device", "add", "led-110105-01", *BOARD)
    code, out, _ = _run(capsys, tmp_path, "device", "remove", "led-110105-01")
    assert code == EXIT_OK
    assert "removed" in out
    assert _devices(tmp_path) == {}
    code, _, err = _run(capsys, tmp_path, "device", "remove", "led-110105-01")
    assert code == EXIT_INVALID
    assert err.strip() == "publisher: DEVICE_ID: no device 'led-110105-01'"


def test_import_registers_a_simulator_s_device_list_once(capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path) -> None:
    table = load_districts(load_paths().districts_file)
    fleet = place_devices("speaker", 4, [table.get("110105"), table.get("110108")], seed=5)
    device_list = tmp_path / "speaker-devices.json"
    write_device_list(device_list, fleet, "http://127.0.0.1:8701")
    code, out, err = _run(capsys, tmp_path, "device", "import", str(device_list))
    assert (code, err) == (EXIT_OK, "")
    assert out.strip() == "devices: 4 created, 0 updated, 0 unchanged, 0 refused"
    code, out, _ = _run(capsys, tmp_path, "device", "import", str(device_list))
    assert out.strip() == "devices: 0 created, 0 updated, 4 unchanged, 0 refused"
    registered = _devices(tmp_path)
    for device in fleet:
        address, digest, active = registered[device.device_id]
        assert address == f"http://127.0.0.1:8701/devices/{device.device_id}"
        assert digest == hashlib.sha256(device.token.encode()).hexdigest()
        assert active

    entries = json.loads(device_list.read_text(encoding="utf-8"))
    entries[1]["district_code"] = "火星"
    device_list.write_text(json.dumps(entries), encoding="utf-8")
    code, out, err = _run(capsys, tmp_path, "device", "import", str(device_list))
    assert code == EXIT_INVALID
    assert err.startswith(f"{device_list}: device[1].district_code: unknown district '火星'")
    assert out.strip() == "devices: 0 created, 0 updated, 3 unchanged, 1 refused"


def test_import_of_a_missing_or_malformed_file(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    code, _, err = _run(capsys, tmp_path, "device", "import", str(tmp_path / "absent.json"))
    assert code == EXIT_USAGE
    assert "absent.json: no such file" in err
    broken = tmp_path / "broken.json"
    broken.write_text('{"device_id": "led-1"}', encoding="utf-8")
    code, _, err = _run(capsys, tmp_path, "device", "import", str(broken))
    assert code == EXIT_INVALID
    assert err.strip() == f"publisher: {broken}: expected a JSON array of devices"
