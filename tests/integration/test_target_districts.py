"""Targets reached by the districts they follow: the planning queries and the migration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import Status
from publisher.services.delivery import plan_fanout
from publisher.services.subscribers import SMS_CHANNEL
from publisher.store.db import alembic_config, make_engine
from publisher.store.models import Target, TargetDistrict
from tests.integration.fanout_support import CHAOYANG, geocoded, publish

Factory = sessionmaker[Session]
SUBSCRIBERS = 20_000
CITY = "110000"
_CODES = ("110101", "110102", "110105", "110106", "110107", "110108", "110109", "110111",
          "110112", "110113", "110114", "110115", "110116", "110117", "110118", "110119")


def _add_subscriber_targets(session: Session) -> None:
    """A city of SMS numbers, each following one district and every seventh a second one."""
    session.execute(text(
        "INSERT INTO targets (channel, address, language, is_test, active, created_at)"
        " SELECT 'sms', '+8613' || LPAD(number::text, 9, '0'), 'zh-CN', false, true, now()"
        " FROM generate_series(1, :count) AS number"), {"count": SUBSCRIBERS})
    session.execute(text(
        "INSERT INTO target_districts (target_id, district_code)"
        " SELECT id, (CAST(:codes AS text[]))[1 + id % 16] FROM targets"), {"codes": list(_CODES)})
    session.execute(text(
        "INSERT INTO target_districts (target_id, district_code)"
        " SELECT id, '110108' FROM targets WHERE id % 7 = 0 ON CONFLICT DO NOTHING"))
    session.commit()
    session.execute(text("ANALYZE targets"))
    session.execute(text("ANALYZE target_districts"))
    session.commit()


@contextmanager
def _statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement sent while the block runs, with its parameters."""
    sent: list[tuple[str, Any]] = []

    def capture(_connection: Any, _cursor: Any, statement: str, parameters: Any,
                _context: Any, _many: bool) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def _target_district_access(session: Session, statement: str, parameters: Any) -> set[str]:
    """How PostgreSQL plans to read target_districts for ``statement``: node types, indexes."""
    explained = session.connection().exec_driver_sql(
        f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar_one()
    return {f"{node['Node Type']} {node.get('Index Name', '')}".strip()
            for node in _plan_nodes(explained[0]["Plan"])
            if node.get("Relation Name") == "target_districts"}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("code", [CHAOYANG, CITY])
def test_planning_reads_followed_districts_through_an_index(
        session_factory: Factory, code: str) -> None:
    with session_factory() as session:
        _add_subscriber_targets(session)
        following = session.scalar(select(func.count(TargetDistrict.target_id.distinct())).where(
            TargetDistrict.district_code.startswith(code.rstrip("0"))))
        message = publish(session, status=Status.ACTUAL, areas=geocoded(code))
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        with _statements(engine) as sent:
            planned = sum(len(ids) for _, ids in plan_fanout(session, message.id, 1000,
                                                             channels=(SMS_CHANNEL,)))
        assert planned == following == (SUBSCRIBERS if code == CITY else SUBSCRIBERS // 16)
        reading = [(statement, parameters) for statement, parameters in sent
                   if "target_districts" in statement]
        assert reading
        for statement, parameters in reading:
            # A probe of the primary key per target: never the whole table, once per page.
            assert _target_district_access(session, statement, parameters) == {
                "Index Only Scan target_districts_pkey"}, statement
        session.rollback()


def test_the_migration_moves_a_subscriber_number_district_into_target_districts(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'publisher.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0003")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for statement in (
                "INSERT INTO subscribers (id, language, active, is_test, created_at, updated_at)"
                " VALUES (1, 'zh-CN', 1, 0, '2026-01-01', '2026-01-01')",
                "INSERT INTO contact_points (subscriber_id, kind, value, created_at)"
                " VALUES (1, 'msisdn', '+8613800138000', '2026-01-01')",
                "INSERT INTO subscriber_districts (subscriber_id, district_code, created_at)"
                " VALUES (1, '110105', '2026-01-01')",
                "INSERT INTO targets (channel, address, district_code, language, is_test, active,"
                " created_at) VALUES ('sms', '+8613800138000', '110105', 'zh-CN', 0, 1,"
                " '2026-01-01'), ('memory', 'board-1', '110108', 'zh-CN', 0, 1, '2026-01-01')",
            ):
                connection.exec_driver_sql(statement)
        command.upgrade(config, "0004")
        with Session(engine) as session:
            assert session.execute(select(Target.address, Target.district_code)
                                   .order_by(Target.address)).all() == [
                ("+8613800138000", None), ("board-1", "110108")]
            assert session.execute(select(TargetDistrict.target_id,
                                          TargetDistrict.district_code)).all() == [(1, "110105")]
        command.downgrade(config, "0003")
        with engine.connect() as connection:
            assert connection.exec_driver_sql(
                "SELECT address, district_code FROM targets ORDER BY address").all() == [
                ("+8613800138000", "110105"), ("board-1", "110108")]
    finally:
        engine.dispose()
