"""Boards, speakers and terminals from CSV, on SQLite and PostgreSQL: valid rows imported,
each refused row named with its column, nothing of a refused row written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import load_districts
from publisher.cli import main
from publisher.cli_errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from publisher.config import load_paths, load_settings
from publisher.services.device_csv import import_device_csv
from publisher.services.devices import find_device
from publisher.services.district_names import DistrictNames
from publisher.services.subscriber_import import RowError
from publisher.store.db import make_engine, make_session_factory, session_scope
from publisher.store.models import Device, Target

Factory = sessionmaker[Session]
TERMINAL_TOKEN = "terminal-token-0123456789"
HEADER = ("device_id,kind,endpoint,sector,district,latitude,longitude,is_test,rows,colours,"
          "volume,token")
GOOD = [
    "led-1,led,http://127.0.0.1:8700/devices/led-1,,朝阳,39.93,116.49,yes,3,red|yellow,,",
    "speaker-1,speaker,http://127.0.0.1:8701/devices/speaker-1,,Haidian,39.96,116.30,,,,60,",
    f"school-1,terminal,,school,110105,39.93,116.49,no,,,,{TERMINAL_TOKEN}",
]
BAD = [
    "water-1,terminal,,mall,110105,39.93,116.49,,,,,",
    "water-2,terminal,,water,火星,39.93,116.49,,,,,",
    "led-1,led,http://127.0.0.1:8700/devices/led-9,,110105,39.93,116.49,,,,,",
    "led-4,led,http://127.0.0.1:8700/devices/led-4,,110105,north,116.49,,,,,",
    "led-5,led,http://127.0.0.1:8700/devices/led-5,,110105,39.93,126.49,,,,,",
    "power-1,terminal,,power,110105,39.93,116.49,,2,,,",
    "led-6,led,http://127.0.0.1:8700/devices/led-1,,110105,39.93,116.49,,,,,",
    "led-7,led,http://127.0.0.1:8700/devices/led-7,,110105,39.93,116.49,maybe,,,,",
    "heat-1,terminal,,heat,110105,39.93,116.49,,,,,short",
]
REFUSALS = [
    RowError(5, "sector", "'mall' is not a sector (known: school, hospital, newsroom, rail,"
                          " water, power, gas, heat, telecom)"),
    RowError(6, "district", "unknown district '火星'"),
    RowError(7, "device_id", "led-1 is on row 2 already: list a device once"),
    RowError(8, "latitude", "'north' is not a number of degrees"),
    RowError(9, "longitude", "(126.49, 39.93) lies outside Chaoyang (110105) and outside"
                             " Beijing (110000): check the district, and that lon comes"
                             " before lat"),
    RowError(10, "rows", "unknown for terminal devices (known: none)"),
    RowError(11, "endpoint", "device led-1 is reached at http://127.0.0.1:8700/devices/led-1"
                             " already"),
    RowError(12, "is_test", "'maybe' is not true or false"),
    RowError(13, "token", "required: the device's token, at least 16 characters"),
]


@pytest.fixture(scope="module")
def districts() -> DistrictNames:
    return DistrictNames(load_districts(load_paths().districts_file))


def _csv(*rows: str) -> str:
    return "\n".join((HEADER, *rows)) + "\n"


def _registered(session: Session) -> dict[str, tuple[str, str | None, bool, str]]:
    return {device_id: (address, sector, is_test, digest or "")
            for device_id, address, sector, is_test, digest in session.execute(
                select(Device.device_id, Target.address, Device.sector, Target.is_test,
                       Device.token_sha256).join(Target, Target.id == Device.target_id))}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_valid_rows_are_imported_and_each_refused_row_is_named_with_its_column(
        session_factory: Factory, districts: DistrictNames) -> None:
    with session_factory() as session:
        report = import_device_csv(session, _csv(*GOOD, *BAD), districts)
        session.commit()
    assert report.errors == REFUSALS
    assert (report.created, report.updated, report.unchanged, report.refused) == (3, 0, 0, 9)
    # The rows without a token got one each, shown in the report only.
    assert sorted(report.tokens) == ["led-1", "speaker-1"]
    assert all(token.startswith("dev_") for token in report.tokens.values())
    with session_factory() as session:
        assert _registered(session) == {
            "led-1": ("http://127.0.0.1:8700/devices/led-1", None, True,
                      _digest(report.tokens["led-1"])),
            "speaker-1": ("http://127.0.0.1:8701/devices/speaker-1", None, False,
                          _digest(report.tokens["speaker-1"])),
            "school-1": ("110105/school/school-1", "school", False, _digest(TERMINAL_TOKEN))}
        board = find_device(session, "led-1")
        assert board is not None
        assert (board.capabilities["rows"], board.capabilities["colours"]) == (
            3, ["red", "yellow"])
        speaker = find_device(session, "speaker-1")
        assert speaker is not None and speaker.capabilities["volume"] == 60
        # Nothing of a refused row was written: no target of theirs either.
        assert session.scalar(select(func.count()).select_from(Target)) == 3


def test_importing_again_changes_nothing_and_keeps_the_tokens(
        session_factory: Factory, districts: DistrictNames) -> None:
    with session_factory() as session:
        first = import_device_csv(session, _csv(*GOOD), districts)
        session.commit()
    with session_factory() as session:
        again = import_device_csv(session, _csv(*GOOD), districts)
        session.commit()
        assert (again.created, again.updated, again.unchanged, again.errors) == (0, 0, 3, [])
        assert again.tokens == {}
        assert _registered(session)["led-1"][3] == _digest(first.tokens["led-1"])
    moved = GOOD[0].replace("39.93,116.49,yes", "39.92,116.48,no")
    with session_factory() as session:
        changed = import_device_csv(session, _csv(moved), districts)
        session.commit()
        assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 0)
        assert _registered(session)["led-1"][2:] == (False, _digest(first.tokens["led-1"]))


@pytest.mark.parametrize(("text", "errors"), [
    ("", [RowError(1, "", "the file is empty: a header row is required")]),
    ("device_id,kind,district_code,lon,lat,colour\nled-1,led,110105,116.49,39.93,red\n", [
        RowError(1, "colour", "unknown column; the columns are device_id, kind, endpoint,"
                              " sector, district_code, lon, lat, language, name,"
                              " heartbeat_interval, is_test, rows, columns, volume, scrolls,"
                              " colours, formats, languages, token")]),
    ("device_id,kind,district,district_code,lon\nled-1,led,110105,110105,116.49\n", [
        RowError(1, "district_code", "a second district_code column"),
        RowError(1, "lat", "missing column")]),
])
def test_a_wrong_header_refuses_the_whole_file(session_factory: Factory,
                                               districts: DistrictNames, text: str,
                                               errors: list[RowError]) -> None:
    with session_factory() as session:
        report = import_device_csv(session, text, districts)
        assert report.errors == errors
        assert report.created == 0


def _run(capsys: pytest.CaptureFixture[str], data_dir: Path, *arguments: str
         ) -> tuple[int, str, str]:
    code = main([*arguments, "--data-dir", str(data_dir)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _digests(data_dir: Path) -> dict[str, str]:
    engine = make_engine(load_settings({}, data_dir=data_dir).database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return {device_id: digest for device_id, (_, _, _, digest)
                    in _registered(session).items()}
    finally:
        engine.dispose()


def test_the_command_prints_the_generated_tokens_alone_on_standard_output(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    listing = tmp_path / "devices.csv"
    listing.write_text("\ufeff" + _csv(*GOOD, BAD[1]), encoding="utf-8")
    code, out, err = _run(capsys, tmp_path, "device", "import", str(listing))
    assert code == EXIT_INVALID
    header, *lines = out.splitlines()
    assert header == "device_id,token"
    tokens = dict(line.split(",") for line in lines)
    assert sorted(tokens) == ["led-1", "speaker-1"]
    assert _digests(tmp_path) == {"led-1": _digest(tokens["led-1"]),
                                  "speaker-1": _digest(tokens["speaker-1"]),
                                  "school-1": _digest(TERMINAL_TOKEN)}
    assert err.splitlines() == [
        f"{listing}: row 5, column district: unknown district '火星'",
        "devices: 3 created, 0 updated, 0 unchanged, 1 refused"]

    code, out, err = _run(capsys, tmp_path, "device", "import", str(listing))
    assert (code, out) == (EXIT_INVALID, "")
    assert err.splitlines()[-1] == "devices: 0 created, 0 updated, 3 unchanged, 1 refused"


def test_the_command_writes_the_tokens_to_a_new_file_and_reads_csv_by_option(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    listing = tmp_path / "devices.txt"
    listing.write_text(_csv(*GOOD), encoding="utf-8")
    tokens_out = tmp_path / "tokens.csv"
    code, out, err = _run(capsys, tmp_path, "device", "import", str(listing), "--format",
                          "csv", "--tokens-out", str(tokens_out))
    assert (code, out) == (EXIT_OK, ""), err
    assert tokens_out.stat().st_mode & 0o777 == 0o600
    tokens = dict(line.split(",") for line in tokens_out.read_text().splitlines()[1:])
    assert _digests(tmp_path)["led-1"] == _digest(tokens["led-1"])
    assert f"(their tokens in {tokens_out})" in err

    code, _, err = _run(capsys, tmp_path, "device", "import", str(listing), "--format", "csv",
                        "--tokens-out", str(tokens_out))
    assert code == EXIT_USAGE
    assert f"--tokens-out: {tokens_out} exists; name a new file" in err
    # Without --format, a file not ending .csv is read as JSON, which generates no tokens.
    code, _, err = _run(capsys, tmp_path, "device", "import", str(listing))
    assert code == EXIT_INVALID
    assert "malformed JSON" in err
    code, _, err = _run(capsys, tmp_path, "device", "import", str(listing), "--tokens-out",
                        str(tmp_path / "other.csv"))
    assert code == EXIT_USAGE
    assert "--tokens-out: a device list in JSON carries its tokens" in err
