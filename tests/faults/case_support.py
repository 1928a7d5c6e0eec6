"""What the node, WeChat, speech and clock cases share: an installation on this case's
database and virtual host, and the rows of one message by target address."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from publisher.store.models import Delivery, Target
from tests.e2e.worker_support import stop
from tests.faults.installation import FaultInstallation

__all__ = ["installation", "rows_by_address", "running_worker", "skip_or_fail"]


def skip_or_fail(reason: str) -> None:
    """Skip for want of what the machine lacks; fail under CI (``CI=true``), which has it."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must provide it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def installation(tmp_path: Path, fault_database_url: str,
                 fault_broker_url: str) -> FaultInstallation:
    return FaultInstallation(tmp_path, fault_database_url, fault_broker_url)


def rows_by_address(installation: FaultInstallation, message_id: int) -> dict[str, Delivery]:
    """The message's delivery rows, by their target's address."""
    with installation.session_factory() as session:
        return {address: delivery for delivery, address in session.execute(
            select(Delivery, Target.address).join(Target, Target.id == Delivery.target_id)
            .where(Delivery.message_id == message_id))}


@contextmanager
def running_worker(installation: FaultInstallation, name: str,
                   queues: Sequence[str]) -> Iterator[None]:
    """A worker as deployed on ``queues`` for the block; stopped (its group) after."""
    process = installation.start_worker(name, queues)
    try:
        yield
    finally:
        stop(process)
