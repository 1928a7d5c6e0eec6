"""The fault-injection cases: each runs a real installation through one fault.

Every case asserts that nothing is lost and nothing is duplicated, and
docs/reliability.md holds one line per case. They take tens of seconds each
(worker processes, simulators, services stopped and started), so they are
moved to the front of the run: under ``pytest -n auto`` the scheduler hands
out tests in collection order, and the slow ones then overlap the thousands
of quick ones instead of trailing after them.

Each case gets a PostgreSQL database and a RabbitMQ virtual host of its own,
made here and removed after: its workers use the fixed queue names of a
real installation, and must not meet another case's tasks or rows.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.services import (
    POSTGRES_HOST,
    POSTGRES_PORT,
    RABBITMQ_HOST,
    RABBITMQ_PORT,
    require_rabbitmqctl,
    require_service,
)

FAULTS_DIRECTORY = Path(__file__).parent
RABBITMQCTL_SECONDS = 60


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fault: a fault-injection case (tests/faults), run first")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Every process of an xdist run collects alike and so reorders alike,
    # which xdist checks before it schedules anything.
    faults = [item for item in items if FAULTS_DIRECTORY in item.path.parents]
    for item in faults:
        item.add_marker(pytest.mark.fault)
    chosen = {id(item) for item in faults}
    items[:] = faults + [item for item in items if id(item) not in chosen]


@pytest.fixture
def fault_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database on the shared server, for this case alone; dropped after."""
    require_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    admin = f"host={POSTGRES_HOST} port={POSTGRES_PORT} user=postgres dbname=test"
    database = f"publisher_fault_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    try:
        yield f"postgresql+psycopg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{database}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _rabbitmqctl(*arguments: str) -> None:
    subprocess.run(["rabbitmqctl", *arguments], check=True, capture_output=True,
                   timeout=RABBITMQCTL_SECONDS)


@pytest.fixture
def fault_broker_url() -> Iterator[str]:
    """A fresh virtual host on the shared RabbitMQ, for this case alone; deleted after."""
    require_rabbitmqctl()
    vhost = f"publisher-fault-{uuid.uuid4().hex[:12]}"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)
