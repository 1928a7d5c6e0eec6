"""PostgreSQL restarted while SMS receipts pour in, or stopped while a batch is handed over:
every subscriber gets the alert once, and every receipt is recorded exactly once.

The database is a private cluster (tests/faults/private_postgres.py),
restarted with ``pg_ctl restart -m immediate`` (as a crash: no checkpoint,
every connection cut) while the SMS worker's inbound pump records the
receipts the SMSC simulator sends for an alert to every subscriber; or
stopped the same way while the worker hands a batch to the SMSC, and
started again seconds later, after the batch's hand-over has ended.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, select

from publisher.channels.base import DeliveryStatus
from publisher.sim.smsc import SimulatorThread
from publisher.store.models import Receipt
from tests.e2e.worker_support import stop
from tests.faults.installation import FaultInstallation
from tests.faults.private_postgres import PrivatePostgres, private_postgres
from tests.faults.sms_case import SMS_QUEUES, sms_alert
from tests.integration.sms_support import StartSmsc, smsc_factory

__all__ = ["private_postgres", "smsc_factory"]

SUBSCRIBERS = 500
BATCH = 100
SMS_RATE = 400.0
# Each part's receipt comes this long after the part: the alert is handed over
# by then (in seconds, even on a loaded machine), and the receipts arrive at the
# pace the parts went out.
RECEIPT_DELAY_SECONDS = 8.0
STARTED_SECONDS = 60.0
RECOVERY_SECONDS = 75.0
KEPT = "sms inbound not stored; kept for the next round"

# Slow enough that a batch takes seconds to hand over: the stop lands inside one.
HAND_OVER_SUBSCRIBERS = 300
HAND_OVER_RATE = 40.0
# Longer than what is left of the batch in hand once the database is down.
DOWN_SECONDS = 8.0
KEPT_IN_HAND = "database unavailable; the write is kept in hand and tried again"


def _receipts(installation: FaultInstallation) -> int:
    try:
        with installation.session_factory() as session:
            return session.scalar(select(func.count()).select_from(Receipt)) or 0
    except Exception:  # the database is restarting: nothing to count yet
        return 0


def test_postgres_restarted_during_receipt_ingestion(
        private_postgres: PrivatePostgres, tmp_path: Path, fault_broker_url: str,
        smsc_factory: StartSmsc) -> None:
    installation = FaultInstallation(tmp_path, private_postgres.url, fault_broker_url)
    smsc = smsc_factory(dlr_delay=RECEIPT_DELAY_SECONDS, receipt_retry_interval=1.0)
    alert = sms_alert(installation, smsc, SUBSCRIBERS, batch_size=BATCH, rate=SMS_RATE,
                      window=50)

    worker = installation.start_worker("worker", SMS_QUEUES)
    try:
        # Restarted once the alert is handed over, while its receipts come in.
        installation.wait(lambda: alert.handed_over() and _receipts(installation) > 0,
                          STARTED_SECONDS, "the alert handed over and its first receipts"
                          " recorded", alert.state)
        private_postgres.restart()
        at_restart = _receipts(installation)
        alert.await_settled(RECOVERY_SECONDS)
    finally:
        stop(worker)

    ledger = alert.ledger()
    assert ledger.with_status(DeliveryStatus.DELIVERED) == alert.numbers
    assert ledger.duplicated == {}
    assert at_restart < ledger.parts, "every receipt was recorded before the restart"
    # The restart caught receipts in hand: the pump kept them and stored them later.
    assert KEPT in installation.worker_log("worker")
    # One receipt per part the SMSC took, each applied once.
    assert len(ledger.applied) == ledger.parts
    assert set(ledger.applied.values()) == {1}
    assert ledger.unmatched == 0


def _parts_taken(smsc: SimulatorThread) -> int:
    """Parts the SMSC logged; read from its own log, since the database may be down."""
    log = smsc.part_log()
    try:
        return len(log.parts())
    finally:
        log.close()


def test_postgres_stopped_while_a_batch_is_handed_over(
        private_postgres: PrivatePostgres, tmp_path: Path, fault_broker_url: str,
        smsc_factory: StartSmsc) -> None:
    installation = FaultInstallation(tmp_path, private_postgres.url, fault_broker_url)
    smsc = smsc_factory(dlr_delay=1.0, receipt_retry_interval=1.0)
    alert = sms_alert(installation, smsc, HAND_OVER_SUBSCRIBERS, batch_size=BATCH,
                      rate=HAND_OVER_RATE)

    worker = installation.start_worker("worker", SMS_QUEUES)
    try:
        # A tenth into the second batch: the first is recorded, the second in hand.
        installation.wait(lambda: _parts_taken(smsc) >= BATCH + BATCH // 10, STARTED_SECONDS,
                          "the SMSC to take the first batch and part of the second",
                          alert.state)
        private_postgres.stop()
        stopped_at = _parts_taken(smsc)
        time.sleep(DOWN_SECONDS)
        while_down = _parts_taken(smsc)
        private_postgres.start()
        alert.await_settled(RECOVERY_SECONDS)
        assert worker.poll() is None, installation.logs()
    finally:
        stop(worker)

    assert while_down > stopped_at, "the batch in hand stopped with the database"
    ledger = alert.ledger()
    assert ledger.with_status(DeliveryStatus.DELIVERED) == alert.numbers, alert.state()
    assert ledger.duplicated == {}
    assert KEPT_IN_HAND in installation.worker_log("worker")
    assert len(ledger.applied) == ledger.parts
    assert set(ledger.applied.values()) == {1}
    assert ledger.unmatched == 0
