"""The device registry on SQLite and PostgreSQL: add, remove, import, tokens, health."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import load_districts
from publisher.config import load_paths
from publisher.services.device_health import Health, device_health, health_by_kind, is_offline
from publisher.services.device_import import apply_configured_devices, import_device_list
from publisher.services.devices import (
    add_device,
    authenticate_device,
    device_spec,
    find_device,
    list_devices,
    remove_device,
    touch_device,
)
from publisher.services.district_names import DistrictNames
from publisher.services.errors import Conflict, NotFound, Unauthenticated
from publisher.store.models import Device, DeviceKind, Target, utcnow

Factory = sessionmaker[Session]


@pytest.fixture(scope="module")
def districts() -> DistrictNames:
    return DistrictNames(load_districts(load_paths().districts_file))


def _fields(device_id: str, kind: str = "led", **changes: Any) -> dict[str, Any]:
    return {"device_id": device_id, "kind": kind, "district_code": "110105",
            "endpoint": f"http://127.0.0.1:8700/devices/{device_id}", "lon": 116.50,
            "lat": 39.95, **changes}


def _add(session: Session, districts: DistrictNames, device_id: str, **changes: Any) -> str:
    return add_device(session, device_spec(_fields(device_id, **changes), districts)).token


def test_a_device_is_a_target_and_a_device_row_with_a_token_kept_as_its_digest(
        session_factory: Factory, districts: DistrictNames) -> None:
    with session_factory() as session:
        added = add_device(session, device_spec(_fields(
            "speaker-110105-01", "speaker", language="en-US", is_test=True,
            heartbeat_interval=30, name="朝阳公园南门"), districts))
        session.commit()
        token = added.token
    assert token.startswith("dev_")
    assert token not in repr(added)
    with session_factory() as session:
        device = session.scalars(select(Device)).one()
        target = device.target
        assert (device.device_id, device.kind, device.name, device.heartbeat_interval) == (
            "speaker-110105-01", DeviceKind.SPEAKER, "朝阳公园南门", 30)
        assert device.capabilities == {"formats": ["audio/wav"], "volume": 80,
                                       "languages": ["zh-CN", "en-US"]}
        assert device.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
        assert (target.channel, target.address, target.district_code, target.lon, target.lat,
                target.language, target.is_test, target.active) == (
            "speaker", "http://127.0.0.1:8700/devices/speaker-110105-01", "110105", 116.50,
            39.95, "en-US", True, True)
        assert authenticate_device(session, "speaker-110105-01", token) is device
        with pytest.raises(Unauthenticated) as wrong:
            authenticate_device(session, "speaker-110105-01", token[:-1] + "x")
        assert wrong.value.field == "Authorization"
        with pytest.raises(NotFound) as unknown:
            authenticate_device(session, "speaker-110105-99", token)
        assert unknown.value.field == "device_id"


def test_an_id_or_endpoint_taken_is_a_conflict_and_writes_nothing(
        session_factory: Factory, districts: DistrictNames) -> None:
    with session_factory() as session:
        _add(session, districts, "led-1")
        session.commit()
        with pytest.raises(Conflict) as same_id:
            _add(session, districts, "led-1", endpoint="http://127.0.0.1:8700/devices/other")
        assert same_id.value.field == "device_id"
        with pytest.raises(Conflict) as same_endpoint:
            _add(session, districts, "led-2", endpoint="http://127.0.0.1:8700/devices/led-1")
        assert same_endpoint.value.field == "endpoint"
        assert "device led-1 is reached at" in same_endpoint.value.reason
        session.rollback()
        # Another kind of device at the same address is another target.
        _add(session, districts, "speaker-1", kind="speaker",
             endpoint="http://127.0.0.1:8700/devices/led-1")
        session.commit()
        assert session.scalar(select(func.count()).select_from(Target)) == 2


def test_removing_keeps_the_target_inactive_and_adding_the_endpoint_again_takes_it_back(
        session_factory: Factory, districts: DistrictNames) -> None:
    with session_factory() as session:
        _add(session, districts, "led-1")
        session.commit()
        target_id = session.scalars(select(Target.id)).one()
        remove_device(session, "led-1")
        session.commit()
        assert find_device(session, "led-1") is None
        assert session.get_one(Target, target_id).active is False
        with pytest.raises(NotFound):
            remove_device(session, "led-1")
        _add(session, districts, "led-1b", endpoint="http://127.0.0.1:8700/devices/led-1",
             district_code="110108", lon=116.30, lat=40.0)
        session.commit()
        device = find_device(session, "led-1b")
        assert device is not None
        assert (device.target_id, device.target.active, device.target.district_code) == (
            target_id, True, "110108")


def _listed(device_id: str, token: str, **changes: Any) -> dict[str, Any]:
    return {**_fields(device_id), "token": token,
            "capabilities": {"rows": 2, "columns": 12, "colours": ["red", "yellow"],
                             "scrolls": False, "languages": ["zh-CN", "en-US"]}, **changes}


def test_a_device_list_imports_once_and_updates_by_device_id(
        session_factory: Factory, districts: DistrictNames) -> None:
    entries: list[Any] = [_listed("led-1", "token-one-0123456789"),
                          _listed("led-2", "token-two-0123456789", district_code="110108",
                                  lon=116.30, lat=40.0)]
    with session_factory() as session:
        first = import_device_list(session, entries, districts)
        session.commit()
        again = import_device_list(session, entries, districts)
        session.commit()
    assert (first.created, first.updated, first.unchanged, first.errors) == (2, 0, 0, [])
    assert (again.created, again.updated, again.unchanged, again.errors) == (0, 0, 2, [])

    # The simulator came back on another port, with new tokens.
    moved = [_listed("led-1", "token-new-0123456789",
                     endpoint="http://127.0.0.1:9911/devices/led-1", lon=116.55),
             entries[1], ["not", "an", "object"],
             _listed("led-3", "short"),
             _listed("led-1", "token-new-0123456789", kind="speaker",
                     capabilities={"volume": 50})]
    with session_factory() as session:
        report = import_device_list(session, moved, districts)
        session.commit()
        device = find_device(session, "led-1")
        assert device is not None
        assert (device.target.address, device.target.lon) == (
            "http://127.0.0.1:9911/devices/led-1", 116.55)
        authenticate_device(session, "led-1", "token-new-0123456789")
        with pytest.raises(Unauthenticated):
            authenticate_device(session, "led-1", "token-one-0123456789")
        assert find_device(session, "led-3") is None
        assert session.scalar(select(func.count()).select_from(Target)) == 2
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    assert [(error.entry, error.field) for error in report.errors] == [
        (2, ""), (3, "token"), (4, "kind")]
    assert str(report.errors[1]).startswith("device[3].token: required")


def test_devices_kept_in_config_are_applied_with_the_digest_of_their_token(
        session_factory: Factory, districts: DistrictNames, tmp_path: Path) -> None:
    digest = hashlib.sha256(b"configured-token-0123").hexdigest()
    config = tmp_path / "devices.toml"
    config.write_text(f"""
[[device]]
device_id = "speaker-110108-01"
kind = "speaker"
endpoint = "http://10.1.8.1:8000"
district_code = "110108"
lon = 116.30
lat = 40.00
token_sha256 = "{digest}"
capabilities = {{ volume = 90 }}

[[device]]
device_id = "led-110108-01"
kind = "led"
endpoint = "http://10.1.8.2:8000"
district_code = "110108"
lon = 116.30
lat = 40.00
token_sha256 = "not a digest"
""", encoding="utf-8")
    with session_factory() as session:
        report = apply_configured_devices(session, config, districts)
        session.commit()
        device = authenticate_device(session, "speaker-110108-01", "configured-token-0123")
        assert device.capabilities["volume"] == 90
    assert report.created == 1
    assert [(error.entry, error.field) for error in report.errors] == [(1, "token_sha256")]


def test_health_is_the_time_since_the_device_was_last_heard_from(
        session_factory: Factory, districts: DistrictNames) -> None:
    with session_factory() as session:
        for number in range(4):
            _add(session, districts, f"led-{number}", heartbeat_interval=60)
        _add(session, districts, "speaker-0", kind="speaker", heartbeat_interval=300)
        session.commit()
        created = find_device(session, "led-0").created_at  # type: ignore[union-attr]
        fresh, stale = created + timedelta(seconds=30), created + timedelta(seconds=200)
        devices = {device.device_id: device for device in session.scalars(select(Device))}
        assert device_health(devices["led-0"], fresh) is Health.NEVER_SEEN
        assert not is_offline(devices["led-0"], fresh)
        # Never heard from is offline once its first interval has passed.
        assert is_offline(devices["led-0"], stale)
        assert touch_device(devices["led-1"], stale) is True
        assert touch_device(devices["led-1"], stale + timedelta(seconds=10)) is False
        touch_device(devices["led-2"], stale - timedelta(seconds=61))
        session.commit()
        assert device_health(devices["led-1"], stale) is Health.ONLINE
        assert device_health(devices["led-2"], stale) is Health.OFFLINE

        report = health_by_kind(session, stale, listed=2)
        assert (report[DeviceKind.LED].total, report[DeviceKind.LED].offline) == (4, 3)
        assert report[DeviceKind.LED].offline_ids == ["led-0", "led-2"]
        # Its interval is five minutes: not offline yet.
        assert (report[DeviceKind.SPEAKER].total, report[DeviceKind.SPEAKER].offline) == (1, 0)
        page = list_devices(session, offline_only=True, now=stale)
        assert [view.device.device_id for view in page.items] == ["led-0", "led-2", "led-3"]
        assert [view.health for view in page.items] == [
            Health.NEVER_SEEN, Health.OFFLINE, Health.NEVER_SEEN]
        assert list_devices(session, kind="speaker", now=stale).total == 1
        assert health_by_kind(session, utcnow() + timedelta(days=1))[
            DeviceKind.SPEAKER].offline == 1
