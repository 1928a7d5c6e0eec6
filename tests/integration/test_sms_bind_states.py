"""The SMS workers' binds in ``/health``: each pump reports them, stale reports are ignored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.memory import MemoryChannel
from publisher.config import load_settings
from publisher.services.sms_bind_states import (
    FORGOTTEN_AFTER,
    FRESH_SECONDS,
    RouteBinds,
    binds_by_route,
)
from publisher.services.sms_inbound import InboundPump
from publisher.sim.smsc import FaultMode, SimulatorThread
from publisher.store.models import SmsBindState, utcnow
from publisher.web.app import create_app
from tests.integration.fanout_support import add_targets, deliver_in_process, publish
from tests.integration.sms_support import (
    StartSmsc,
    eventually,
    route,
    single_route,
    sms_channel,
    smsc_factory,
)
from tests.integration.staff_support import StaffClient, staff
from tests.integration.subscriber_support import DISTRICTS

__all__ = ["smsc_factory", "staff"]

# PostgreSQL: the database the workers and the web application share in production.
on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

Factory = sessionmaker[Session]


@pytest.fixture
def smsc(smsc_factory: StartSmsc) -> SimulatorThread:
    return smsc_factory()


@pytest.fixture
def pump(smsc: SimulatorThread, session_factory: Factory) -> Iterator[InboundPump]:
    channel = sms_channel(single_route(smsc.port, binds=2, bind_timeout=0.5))
    running = InboundPump(channel, session_factory, DISTRICTS, bind_report_interval=0.2)
    running.start()
    yield running
    running.stop()


def _reported(session_factory: Factory) -> dict[str, RouteBinds | None]:
    with session_factory() as session:
        return binds_by_route(session)


@on_postgresql
def test_a_pump_reports_its_binds_bound_then_down_when_the_smsc_drops_them(
        pump: InboundPump, smsc: SimulatorThread, session_factory: Factory) -> None:
    eventually(lambda: _reported(session_factory).get("primary") == RouteBinds(2, 2),
               "both binds reported bound")
    smsc.set_fault(FaultMode.DROP)
    eventually(lambda: _reported(session_factory).get("primary") == RouteBinds(0, 2),
               "both binds reported not bound")


@on_postgresql
def test_a_pump_that_stops_removes_its_rows(smsc: SimulatorThread,
                                            session_factory: Factory) -> None:
    channel = sms_channel(single_route(smsc.port, bind_timeout=0.5))
    pump = InboundPump(channel, session_factory, DISTRICTS, bind_report_interval=0.2)
    pump.start()
    try:
        eventually(lambda: _reported(session_factory).get("primary") == RouteBinds(1, 1),
                   "the bind reported bound")
    finally:
        pump.stop()
    with session_factory() as session:
        assert session.scalars(select(SmsBindState)).all() == []


def _add(session_factory: Factory, host: str, states: list[tuple[str, str]],
         age: float) -> None:
    written = utcnow() - timedelta(seconds=age)
    with session_factory() as session:
        session.execute(insert(SmsBindState), [
            {"host": host, "pid": 1, "route": route_name, "bind_index": index, "state": state,
             "updated_at": written}
            for index, (route_name, state) in enumerate(states)])
        session.commit()


@on_postgresql
def test_stale_reports_are_ignored(session_factory: Factory) -> None:
    _add(session_factory, "fresh", [("primary", "bound"), ("primary", "down")], age=1)
    _add(session_factory, "gone", [("primary", "bound"), ("old", "bound")],
         age=FRESH_SECONDS + 5)
    with session_factory() as session:
        assert binds_by_route(session, ["primary", "backup"]) == {
            "primary": RouteBinds(1, 2), "backup": None}


@on_postgresql
def test_a_report_deletes_the_rows_of_processes_gone_for_a_day(
        pump: InboundPump, session_factory: Factory) -> None:
    _add(session_factory, "killed", [("primary", "bound")],
         age=FORGOTTEN_AFTER.total_seconds() + 60)
    _add(session_factory, "quiet", [("primary", "bound")], age=FRESH_SECONDS + 5)

    def hosts() -> set[str]:
        with session_factory() as session:
            return set(session.scalars(select(SmsBindState.host)))

    eventually(lambda: "killed" not in hosts(), "the day-old rows deleted by a report")
    assert "quiet" in hosts()


@on_postgresql
@pytest.mark.asyncio
async def test_health_shows_the_binds_and_stays_ok_with_a_route_down(
        aiohttp_client, tmp_path: Path, database_url: str, session_factory: Factory) -> None:
    _add(session_factory, "worker-a", [("primary", "down"), ("primary", "down")], age=1)
    _add(session_factory, "worker-b", [("backup", "bound")], age=FRESH_SECONDS + 5)
    installed = load_settings({}, data_dir=tmp_path)
    routes = {"routes": [route("primary", 0, 1), route("backup", 1, 1)]}
    settings = replace(installed, database_url=database_url, channels=("memory", "sms"),
                       channel_options={**installed.channel_options, "sms": routes})
    client: TestClient = await aiohttp_client(create_app(settings))
    response = await client.get("/health")
    report = await response.json()
    assert response.status == 200, report
    assert report["status"] == "ok"
    assert report["sms_binds"] == {
        "ok": True, "detail": "0 of 2 SMPP binds bound; no recent report from backup",
        "routes": {"primary": {"bound": 0, "total": 2},
                   "backup": {"bound": None, "total": None}}}


@pytest.mark.asyncio
async def test_the_dashboard_shows_each_reported_route(staff: StaffClient) -> None:
    _add(staff.sessions, "worker-a", [("primary", "bound"), ("primary", "down")], age=1)
    with staff.sessions() as session:
        add_targets(session, 1, is_test=True)
        message = publish(session)
    deliver_in_process(staff.sessions, message.id, MemoryChannel())
    await staff.as_user("viewer")
    page = await staff.get(f"/staff/alerts/{message.alert_id}/dashboard")
    assert page.status == 200, page.text
    assert re.search(r'data-health="sms_binds:primary">1 (of|/) 2 ', page.text), page.text
