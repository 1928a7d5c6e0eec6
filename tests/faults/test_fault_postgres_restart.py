"""PostgreSQL restarted while SMS receipts pour in: every receipt ends recorded exactly once.

The database is a private cluster (tests/faults/private_postgres.py),
restarted with ``pg_ctl restart -m immediate`` (as a crash: no checkpoint,
every connection cut) while the SMS worker's inbound pump records the
receipts the SMSC simulator sends for an alert to every subscriber.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from publisher.channels.base import DeliveryStatus
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
