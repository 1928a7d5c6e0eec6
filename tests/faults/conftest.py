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

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import fresh_postgres_database, fresh_rabbitmq_vhost

FAULTS_DIRECTORY = Path(__file__).parent


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
    with fresh_postgres_database("publisher_fault") as url:
        yield url


@pytest.fixture
def fault_broker_url() -> Iterator[str]:
    """A fresh virtual host on the shared RabbitMQ, for this case alone; deleted after."""
    with fresh_rabbitmq_vhost("publisher-fault") as url:
        yield url
