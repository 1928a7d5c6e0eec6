"""The automatic senders' register and the judging of their messages, without a database."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from publisher.cap.districts import load_districts
from publisher.cap.eew import EewError, Quake, quake_of, s_wave_seconds
from publisher.cap.model import Area, Circle, NamedValue, Point, Status
from publisher.services.eew_intake import EewRefusal, judge_eew
from publisher.services.eew_policy import EewPolicyError, EewRegister, load_eew_senders
from publisher.sim.eew_sender import (
    DEMO_SENDER,
    EewSenderIdentity,
    build_eew_alert,
    sender_identity,
)
from tests.channels.device_support import CONFIG_DISTRICTS

QUAKE = Quake(40.3, 116.2, 6.1)
DISTRICTS = load_districts(CONFIG_DISTRICTS)
ENTRY = f"""
[[sender]]
sender = "{DEMO_SENDER}"
name = "the network"
certificates = ["{{data_dir}}/eew/cert.pem"]
event_codes = ["EEW=earthquake"]
districts = ["110105", "110108"]
statuses = ["Exercise"]
rate_limit = {{ messages = 2, seconds = 60 }}
"""
# Around Chaoyang and Haidian only.
POLYGON = 'polygon = [[40.2, 116.0], [40.2, 116.7], [39.8, 116.7], [39.8, 116.0], [40.2, 116.0]]\n'


@pytest.fixture(scope="module")
def made_identity(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("eew-identity")
    sender_identity(directory)
    return directory / "eew"


@pytest.fixture
def identity(made_identity: Path, tmp_path: Path) -> EewSenderIdentity:
    """The sender's identity, installed in this test's data directory."""
    shutil.copytree(made_identity, tmp_path / "eew")
    return sender_identity(tmp_path)


def register(tmp_path: Path, text: str = ENTRY) -> EewRegister:
    path = tmp_path / "eew.toml"
    path.write_text(text, encoding="utf-8")
    return EewRegister(path, tmp_path)


def refusal(xml: bytes, eew: EewRegister) -> tuple[str, str | None]:
    with pytest.raises(EewRefusal) as refused:
        judge_eew(xml, eew, DISTRICTS)
    return refused.value.error.kind, refused.value.error.field


def test_a_wrong_register_names_the_entry_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "eew.toml"
    path.write_text(ENTRY.replace('"EEW=earthquake"', '"earthquake"'), encoding="utf-8")
    with pytest.raises(EewPolicyError, match=r"sender\[0\]\.event_codes"):
        load_eew_senders(path, tmp_path)
    path.write_text(ENTRY.replace("messages = 2", "messages = 0"), encoding="utf-8")
    with pytest.raises(EewPolicyError, match=r"rate_limit\.messages"):
        load_eew_senders(path, tmp_path)


def test_a_sender_whose_certificate_is_not_installed_yet_publishes_once_it_is(
        tmp_path: Path, made_identity: Path) -> None:
    eew = register(tmp_path)
    [sender] = eew.senders()
    assert sender.certificates == ()
    shutil.copytree(made_identity, tmp_path / "eew")
    identity = sender_identity(tmp_path)
    signed = identity.sign(build_eew_alert(QUAKE, districts=("110105",)))
    accepted = judge_eew(signed, eew, DISTRICTS)
    assert (accepted.sender.sender, accepted.quake) == (DEMO_SENDER, QUAKE)


def test_the_status_and_the_districts_of_the_policy_hold(tmp_path: Path,
        identity: EewSenderIdentity) -> None:
    eew = register(tmp_path)
    actual = identity.sign(build_eew_alert(QUAKE, status=Status.ACTUAL, districts=("110105",)))
    assert refusal(actual, eew) == ("forbidden", "status")
    city = identity.sign(build_eew_alert(QUAKE, districts=("110000",)))
    assert refusal(city, eew) == ("forbidden", "info[0].area[0]")


def test_a_circle_outside_the_policy_polygon_is_refused(
        tmp_path: Path, identity: EewSenderIdentity) -> None:
    eew = register(tmp_path, ENTRY + POLYGON)
    alert = build_eew_alert(QUAKE, districts=("110105",))

    def with_circle(centre: Point) -> bytes:
        return identity.sign(replace(alert, infos=tuple(
            replace(info, areas=(replace(info.areas[0], circles=(Circle(centre, 5.0),)),))
            for info in alert.infos)))

    assert judge_eew(with_circle(Point(39.95, 116.45)), eew, DISTRICTS).quake == QUAKE
    assert refusal(with_circle(Point(40.6, 116.45)), eew) == ("forbidden", "info[0].area[0]")


def test_an_area_without_a_district_is_refused(tmp_path: Path,
        identity: EewSenderIdentity) -> None:
    eew = register(tmp_path)
    alert = build_eew_alert(QUAKE, districts=("110105",))
    drawn = replace(alert, infos=tuple(
        replace(info, areas=(Area("somewhere", circles=(Circle(Point(39.9, 116.4), 5.0),)),))
        for info in alert.infos))
    assert refusal(identity.sign(drawn), eew) == ("forbidden", "info[0].area[0]")


def test_the_quake_parameters_are_checked_naming_the_parameter() -> None:
    info = build_eew_alert(QUAKE).infos[0]
    assert quake_of(info) == QUAKE
    broken = replace(info, parameters=(NamedValue("EEW_EPICENTRE", "40.3"),
                                       NamedValue("EEW_MAGNITUDE", "6.1")))
    with pytest.raises(EewError) as error:
        quake_of(broken, "info[0]")
    assert error.value.field == "info[0].parameter.EEW_EPICENTRE"


def test_the_s_wave_countdown_is_the_distance_at_three_and_a_half_km_a_second() -> None:
    assert s_wave_seconds(QUAKE, QUAKE.lat, QUAKE.lon) == 0
    # One degree of latitude is 111.2 km: 31.8 s, rounded down.
    assert s_wave_seconds(QUAKE, QUAKE.lat - 1, QUAKE.lon) == 31
