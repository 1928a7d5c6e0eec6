"""A batch resumed when a worker starts carries its alert, as a fan-out's batches do, so the
worker's "Task ... received" line names it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import signals

from publisher.celery_app import make_celery
from publisher.config import load_settings
from publisher.observability.task_received_context import ALERT_HEADER
from publisher.services.delivery import plan_fanout
from publisher.store.db import upgrade_database
from tests.integration.fanout_support import add_targets, publish


def test_batches_resumed_at_a_worker_start_carry_their_alert(tmp_path: Path) -> None:
    settings = load_settings({}, data_dir=tmp_path)
    upgrade_database(settings.database_url)
    app = make_celery(settings)
    with app.session_factory() as session:
        add_targets(session, 5, is_test=True)
        identifiers = {}
        for _ in range(2):
            message = publish(session)
            list(plan_fanout(session, message.id, 1000))  # planned, never handed on
            identifiers[message.id] = message.identifier
        session.commit()
    sent: list[dict[str, Any]] = []

    def record(headers: dict[str, Any] | None = None, **_: Any) -> None:
        if headers is not None and headers.get("task") == "publisher.send_batch":
            sent.append(headers)

    signals.before_task_publish.connect(record, weak=False)
    try:
        app.recover()
    finally:
        signals.before_task_publish.disconnect(record)
        app.close()
    assert sorted(headers[ALERT_HEADER] for headers in sent) == sorted(identifiers.values())
