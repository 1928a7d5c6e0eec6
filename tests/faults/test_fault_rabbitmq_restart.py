"""RabbitMQ restarted in the middle of an SMS fan-out: every subscriber gets the alert once.

The broker is a private node (tests/e2e/private_rabbitmq.py), shut down whole
and booted again on the same data while a worker is sending batches through
the SMSC simulator; the worker reconnects by itself and the durable queues
give back the batches not yet acknowledged.
"""

from __future__ import annotations

import time
from pathlib import Path

from publisher.channels.base import DeliveryStatus
from tests.e2e.private_rabbitmq import PrivateRabbitMQ, private_rabbitmq, private_rabbitmq_node
from tests.e2e.worker_support import stop
from tests.faults.installation import FaultInstallation
from tests.faults.sms_case import SMS_QUEUES, sms_alert
from tests.integration.sms_support import StartSmsc, smsc_factory

__all__ = ["private_rabbitmq", "private_rabbitmq_node", "smsc_factory"]

SUBSCRIBERS = 600
BATCH = 50
# Parts a second: the alert takes about 20 s, longer than a node takes to shut down.
SMS_RATE = 60.0
STARTED_SECONDS = 60.0
# Reconnection backs off (2 s, 4 s, 6 s ...) while the broker is down.
RECOVERY_SECONDS = 75.0
DOWN_SECONDS = 2.0
RECONNECTED = "Connected to amqp://"


def test_rabbitmq_restarted_during_a_fan_out(private_rabbitmq: PrivateRabbitMQ, tmp_path: Path,
                                             fault_database_url: str,
                                             smsc_factory: StartSmsc) -> None:
    installation = FaultInstallation(tmp_path, fault_database_url, private_rabbitmq.url)
    alert = sms_alert(installation, smsc_factory(dlr_delay=0.2), SUBSCRIBERS, batch_size=BATCH,
                      rate=SMS_RATE)

    worker = installation.start_worker("worker", SMS_QUEUES)
    try:
        installation.wait(lambda: alert.taken() >= 2 * BATCH, STARTED_SECONDS,
                          "the SMSC to take two batches", alert.state)
        private_rabbitmq.stop()
        assert alert.taken() < SUBSCRIBERS, "the alert went out whole before the broker stopped"
        time.sleep(DOWN_SECONDS)
        assert worker.poll() is None, "the worker exited when the broker went away"
        private_rabbitmq.start()
        alert.await_settled(RECOVERY_SECONDS)
    finally:
        stop(worker)

    assert installation.worker_log("worker").count(RECONNECTED) >= 2
    ledger = alert.ledger()
    assert sorted(ledger.rows) == alert.numbers
    assert ledger.with_status(DeliveryStatus.DELIVERED) == alert.numbers
    assert all(ledger.received(number) for number in alert.numbers)
    assert ledger.duplicated == {}
    assert ledger.incomplete == []
    assert set(ledger.applied.values()) == {1}
    assert ledger.unmatched == 0
